"""A tiny DIM config for tests: the embedded digits, small critics, few steps."""

from dim_tf.config import default_config


def tiny_config(**overrides):
    """The quick-start model at test size; `overrides` maps dotted fields to values."""
    config = default_config()
    config.data.dataset = "digits"
    config.encoder = "basic28x28"
    config.y_dim = 8
    config.critic.units = 16
    config.critic.global_units = 16
    config.train.batch_size = 8
    config.train.steps = 4
    config.train.steps_per_call = 2
    config.train.log_every = 2
    config.train.checkpoint_every = 2
    config.data.shuffle_buffer = 64
    config.strategy = "one_device"
    for field, value in overrides.items():
        node = config
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config
