"""The one tiny DIM config of the tests: the embedded digits, small critics, few steps.

`TINY` is the model and data at test size; in-process tests take
`tiny_config()`, bin/ processes the same fields as `--config.FIELD=VALUE`
flags (`tests.processes.TINY_FLAGS`).
"""

from dim_tf.config import default_config

# Dotted field -> value: what makes a run tiny (every step takes milliseconds).
TINY = {
    "data.dataset": "digits",
    "encoder": "basic28x28",
    "y_dim": 8,
    "critic.units": 16,
    "critic.global_units": 16,
    "train.batch_size": 8,
    "data.shuffle_buffer": 64,
}
# How long and how often, for in-process runs (processes set their own).
SHORT = {
    "train.steps": 4,
    "train.steps_per_call": 2,
    "train.log_every": 2,
    "train.checkpoint_every": 2,
    "strategy": "one_device",
}


def override(config, overrides):
    """`config` with dotted `overrides` applied (`--config.FIELD=VALUE` style).

    One field at a time, in order, so a later entry wins even when it is an
    alias of an earlier one (`dataset` after `data.dataset`).
    """
    for field, value in dict(overrides).items():
        config.update_from_flattened_dict({field: value})
    return config


def tiny_config(**overrides):
    """`default_config()` at test size; `overrides` maps dotted fields to values."""
    return override(default_config(), {**TINY, **SHORT, **overrides})
