"""Every config field, with the paper's defaults (DIM(L), JSD, CIFAR10-sized).

The fields and their defaults live in the package (`dim_tf.config.default_config`,
which documents each one); the other configs start from it and change only what
differs. Override any field on the command line:
`bin/train --config=configs/NAME.py --config.train.steps=10`.
"""

from dim_tf.config import default_config


def get_config():
    return default_config()
