"""CIFAR10, DIM(L) with the InfoNCE estimator (the paper's best CIFAR10 row).

Command:
  bin/train --config=configs/cifar10_local_nce.py --workdir=/tmp/dim_cifar10_local_nce

As configs/cifar10_local_jsd.py with objective.estimator=nce; about the same cost
(about 20-22 minutes per 1,000 steps on a 2-core CPU).
Paper (conv / fc / Y, top-1 %): 75.21 / 75.57 / 69.13.
"""

from configs import cifar10_local_jsd


def get_config():
    config = cifar10_local_jsd.get_config()
    config.objective.estimator = "nce"
    return config
