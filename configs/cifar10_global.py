"""CIFAR10, DIM(G): global MI only (alpha=1, beta=0, gamma=1).

Command:
  bin/train --config=configs/cifar10_global.py --workdir=/tmp/dim_cifar10_global

The paper's global critic (two 3x3 convs on the local map, FC 512-512-1 with Y)
replaces the local critic; JSD estimator. Cost per step: BUILD.md, Speed.
Paper (conv / fc / Y, top-1 %): 52.2 / 52.84 / 43.17.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar10"
    config.objective.mode = "global"
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
