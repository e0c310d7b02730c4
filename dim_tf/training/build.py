"""Building a run's `Trainer` from its config: one pure function for every caller.

Training, evaluation, export and the benchmark all build here, so a run is
rebuilt exactly as it trained. Nothing is written.
"""

import keras

from dim_tf import config as config_lib
from dim_tf import models
from dim_tf import workdir as workdir_lib
from dim_tf.input import sources
from dim_tf.training import settings, strategies, trainer


def build_trainer(config, image_shape, strategy):
    """The `Trainer` of `config`, built in `strategy.scope()` from the run's seed.

    Args:
      config: ConfigDict of `dim_tf.config.default_config` fields, checked.
      image_shape: `(S, S, C)` of the encoder's input images.
      strategy: the `tf.distribute.Strategy` to build the variables under.

    Returns:
      `dim_tf.training.trainer.Trainer`.
    """
    # Seeds weight initialisation: a run is reproducible from its config.
    keras.utils.set_random_seed(config.train.seed)
    with strategy.scope():
        return trainer.Trainer(
            encoder=config.encoder,
            y_dim=config.y_dim,
            objective=config.objective,
            critic=config.critic,
            train=config.train,
            image_shape=image_shape,
            strategy=strategy,
            backbone=config.backbone,
        )


def build(config, workdir):
    """Checks everything, then builds the strategy, data info and `Trainer`.

    Nothing is written. Raises `UserError` for any bad input.

    Returns:
      (strategy, trainer, image_size)
    """
    config_lib.check_config(config)
    workdir_lib.check_workdir_path(workdir)
    workdir_lib.check_same_run(workdir, config)
    # Before any other TensorFlow call: MultiWorkerMirroredStrategy must
    # configure collective ops before the runtime starts.
    strategy = strategies.make_strategy(config.strategy, config.tpu)
    # Prepares a TFDS dataset; lists and checks a directory's files.
    channels = sources.describe(config.data, with_classes=False).channels
    settings.check_replicas(config, strategy.num_replicas_in_sync)
    image_size = models.input_size(config.encoder, config.image_size)
    run = build_trainer(config, (image_size, image_size, channels), strategy)
    return strategy, run, image_size
