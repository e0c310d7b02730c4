"""The one tiny DIM config of the tests: the embedded digits, small critics, few steps.

`TINY` is the model and data at test size. In-process tests take
`tiny_config()`; bin/ processes take the quick-start config with the same
fields as `--config.FIELD=VALUE` flags (`TINY_FLAGS`, the command lines of
`tests.processes`), and `quickstart_config()` is that config in-process.
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
    # Exact numbers on every machine; tests/training/auto_precision_test.py
    # covers the default `auto`.
    "train.precision": "float32",
}
# How long and how often, for in-process runs (processes set their own).
SHORT = {
    "train.steps": 4,
    "train.steps_per_call": 2,
    "train.log_every": 2,
    "train.checkpoint_every": 2,
    "strategy": "one_device",
}
# The evaluation at test size: few examples, epochs and steps.
TINY_EVAL = {
    "data.eval_train_split": "train[:160]",
    "data.eval_split": "test[:80]",
    "eval.epochs": 2,
    "eval.batch_size": 32,
    "eval.finetune.epochs": 1,
    "eval.mi.mine_steps": 5,
    "eval.mi.ndm_steps": 5,
    "eval.mi.examples": 60,
    "eval.views.projector_examples": 30,
    "eval.views.map_images": 2,
    "eval.views.neighbour_queries": 3,
    "eval.views.neighbours": 3,
    "eval.few_labels": 2,
    "eval.decoder.epochs": 2,
    # Exact products, as `train.precision` above.
    "eval.knn.precision": "float32",
    "eval.mlp.precision": "float32",
}
# The quick-start config with `TINY`, as bin/ flags (`quickstart_config()` is
# the same config in-process); processes set their own length.
TINY_FLAGS = (
    "--config=configs/quickstart.py",
    *(f"--config.{field}={value}" for field, value in TINY.items()),
)


def override(config, overrides):
    """`config` with dotted `overrides` applied (`--config.FIELD=VALUE` style).

    One field at a time, in order: a later entry wins.
    """
    for field, value in dict(overrides).items():
        config.update_from_flattened_dict({field: value})
    return config


def tiny_config(**overrides):
    """`default_config()` at test size; `overrides` maps dotted fields to values."""
    return override(default_config(), {**TINY, **SHORT, **overrides})


def tiny_eval_config(data_dir, **overrides):
    """`tiny_config()` on the digits in `data_dir`, evaluated at test size."""
    return tiny_config(**{"data.data_dir": data_dir, **TINY_EVAL, **overrides})


def quickstart_config(data_dir, **overrides):
    """The config `processes.train_args(..., data_dir, *flags)` gives bin/train.

    For a test that prepares a workdir in-process and then runs bin/train on
    it (the same run, so it resumes). `overrides` maps dotted fields to
    values, as the --config.FIELD flags would.
    """
    from configs import quickstart

    return override(
        quickstart.get_config(), {**TINY, "data.data_dir": data_dir, **overrides}
    )
