"""dim-train (bin/train): trains Deep InfoMax.

    dim-train --config=PATH/configs/NAME.py --workdir=DIR [--config.FIELD=VALUE ...]

Override any config field with --config.FIELD=VALUE (e.g. --config.train.steps=500).
Rerunning the same command on the same workdir resumes from its latest
checkpoint. Evaluation during training (`eval.every`) is an action this entry
point hands to the training loop.
"""

from absl import flags
from ml_collections import config_flags

from dim_tf import cli
from dim_tf.config import check_config

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/quickstart.py.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory (created, or resumed from its latest checkpoint)."
)


def _train(argv):
    cli.reject_extra_arguments(argv)
    config = _CONFIG.value
    # Before TensorFlow is imported: a mistyped value fails in a fraction of a second.
    check_config(config)
    cli.start_tensorflow()
    # Imported after the quiet start, which must come before TensorFlow's.
    from dim_tf.evaluators.evaluation import periodic_evaluation
    from dim_tf.training.loop import train

    workdir = _WORKDIR.value
    result = train(config, workdir, actions=[periodic_evaluation(config, workdir)])
    print(cli.describe_training_outputs(result))


def main():
    """The console script: parses sys.argv, trains, exits (2 on a user's mistake)."""
    cli.run(_train, flags.FLAGS, required=["config", "workdir"])


if __name__ == "__main__":
    main()
