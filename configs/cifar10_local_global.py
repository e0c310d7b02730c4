"""CIFAR10, DIM(L+G): both objectives (alpha=0.5, beta=0.1, gamma=0.1).

Command:
  bin/train --config=configs/cifar10_local_global.py --workdir=/tmp/dim_cifar10_lg

Local encode-and-dot critic plus the global critic, JSD estimator. Cost per
step: BUILD.md, Speed.
The paper reports DIM(L+G) in its appendix tables; it targets the DIM(L) rows
(73.25 / 73.62 / 66.96) with a slightly better Y.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar10"
    config.objective.mode = "local+global"
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
