"""CIFAR100, DIM(L) with JSD.

Command:
  bin/train --config=configs/cifar100_local_jsd.py --workdir=/tmp/dim_cifar100

As configs/cifar10_local_jsd.py on TFDS `cifar100` (its `label` feature is
the 100 fine classes); the same cost per step (BUILD.md, Speed).
Paper (conv / fc / Y, top-1 %): 48.13 / 45.92 / 39.60.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar100"
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
