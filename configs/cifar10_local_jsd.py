"""CIFAR10, DIM(L) with the JSD estimator: the paper's main setting.

Command:
  bin/train --config=configs/cifar10_local_jsd.py --workdir=/tmp/dim_cifar10_local_jsd

basic32x32 encoder, encode-and-dot critic with 2048 units, uniform prior on
sigmoid(Y) with gamma 0.1, Adam lr 1e-4 (beta1 0.5), batch 64, no augmentation,
1,000 epochs (781,250 steps) as in the paper; use a GPU for the full run
(cost per step: BUILD.md, Speed).
Paper (classifier on conv / fc / Y, top-1 %): 73.25 / 73.62 / 66.96.
Needs the TFDS `cifar10` dataset (downloaded, or built offline: see BUILD.md).
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar10"
    config.encoder = "basic32x32"
    config.objective.mode = "local"
    config.objective.estimator = "jsd"
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
