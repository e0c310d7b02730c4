"""CIFAR10, DIM(L) with the InfoNCE estimator (the paper's best CIFAR10 row).

Command:
  bin/train --config=configs/cifar10_local_nce.py --workdir=/tmp/dim_cifar10_local_nce

As configs/cifar10_local_jsd.py with objective.estimator=nce; about the same cost
(BUILD.md, Speed).
Paper (conv / fc / Y, top-1 %): 75.21 / 75.57 / 69.13.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar10"
    config.objective.estimator = "nce"
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
