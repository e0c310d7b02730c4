"""CIFAR10, DIM(G): global MI only (alpha=1, beta=0, gamma=1).

Command:
  bin/train --config=configs/cifar10_global.py --workdir=/tmp/dim_cifar10_global

The paper's global critic (two 3x3 convs on the local map, FC 512-512-1 with Y)
replaces the local critic; JSD estimator. About 4 minutes
per 1,000 steps on a 2-core CPU.
Paper (conv / fc / Y, top-1 %): 52.2 / 52.84 / 43.17.
"""

from configs import cifar10_local_jsd


def get_config():
    config = cifar10_local_jsd.get_config()
    config.objective.mode = "global"
    return config
