"""A trained run, loaded back from its workdir for evaluation and export.

The encoder handed out is a float32 copy without synchronised BatchNorm, so
probes, fine-tuning and SavedModels work outside the training strategy.
"""

import dataclasses
import os

import keras
from ml_collections import config_dict

from dim_tf import config as config_lib
from dim_tf import input as input_names
from dim_tf import models
from dim_tf import workdir as workdir_lib
from dim_tf.errors import UserError
from dim_tf.input import sources
from dim_tf.models import encoders
from dim_tf.training import checkpoints
from dim_tf.training.build import build


@dataclasses.dataclass
class Run:
    """A trained run at its latest checkpoint.

    Attributes:
      workdir: the run directory.
      config: its ConfigDict.
      step: training steps done at the checkpoint.
      checkpoint: path of the restored checkpoint.
      trainer: the `Trainer` holding the restored models.
      encoder: float32 copy of the trained encoder: `[B, S, S, C]` in [-1, 1]
        -> {"local", "conv", "fc", "y"}.
      image_size: S, the encoder's input size.
      raw_image_shape: `(H, W, C)` exported models take (None where sizes vary).
      class_names: label i's name at index i; empty without labels.
      channels: C of the encoder's input.
      eval_train_split, eval_split: the splits evaluation reads.
    """

    workdir: str
    config: config_dict.ConfigDict
    step: int
    checkpoint: str
    trainer: object
    encoder: object
    image_size: int
    raw_image_shape: tuple
    class_names: list
    channels: int
    eval_train_split: str
    eval_split: str

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def labeled(self):
        """Whether the dataset has labels (else only label-free evaluators run)."""
        return bool(self.class_names)

    @property
    def center_crop(self):
        """Whether model input is center-cropped (runs trained on random crops)."""
        return input_names.trains_on_fixed_crops(self.config.augment, self.config.data)

    def fresh_encoder(self):
        """A float32 encoder of the run's architecture with fresh random weights.

        Neither `backbone.weights` nor a `file:` model's saved weights.
        """
        encoder = self._float32_encoder()
        if self.config.encoder.startswith("file:"):
            # New layers from the same configs: initialised afresh.
            encoder = keras.models.clone_model(encoder)
        return encoder

    def encoder_copy(self):
        """A float32 copy of the trained encoder (for fine-tuning)."""
        encoder = self._float32_encoder()
        encoder.set_weights(self.encoder.get_weights())
        return encoder

    def _float32_encoder(self):
        """The run's float32 encoder before any weights are set on it."""
        image_shape = (self.image_size, self.image_size, self.channels)
        backbone = {**self.config.backbone.to_dict(), "weights": None}
        return encoders.build_encoder(
            self.config.encoder, image_shape, self.config.y_dim, backbone=backbone
        )


def load_config(workdir):
    """The run's config: `dim_tf.config.from_record` of DIR/config.json.

    Raises:
      UserError: no such directory, or no run recorded in it.
    """
    if not workdir:
        raise UserError(
            "--workdir is required: the directory dim-train (bin/train) wrote"
        )
    if not os.path.isdir(workdir):
        raise UserError(
            f"--workdir {workdir!r} does not exist; pass the directory of a run "
            "(dim-train or bin/train --config=CONFIG --workdir=DIR makes one)"
        )
    recorded = workdir_lib.read_config(workdir)
    if recorded is None:
        raise UserError(
            f"{workdir} holds no run (no {workdir_lib.CONFIG_FILE}); train one "
            f"first: dim-train (or bin/train) --config=CONFIG --workdir={workdir}"
        )
    return config_lib.from_record(recorded)


def load_run(workdir, strategy="one_device"):
    """Rebuilds the run in `workdir` and restores its newest complete checkpoint.

    Writes nothing, so a run can be loaded while it trains.

    Args:
      workdir: run directory written by `dim_tf.training.loop.train`.
      strategy: the strategy to rebuild the models under.

    Returns:
      `Run`.

    Raises:
      UserError: missing workdir or config, no checkpoint yet, a checkpoint
        that does not match the config, or data that cannot be loaded.
    """
    config = load_config(workdir)
    config.strategy = strategy
    directory = os.path.join(workdir, "checkpoints")
    path = checkpoints.newest_checkpoint(directory)
    if path is None:
        raise UserError(
            f"{workdir} has no checkpoint yet; train first (dim-train or bin/train ... "
            f"--workdir={workdir}) or wait for the first one "
            f"(every train.checkpoint_every={config.train.checkpoint_every} steps)"
        )
    _, trainer, _ = build(config, workdir)
    checkpoints.restore(path, trainer.checkpoint_items())
    return from_trainer(config, trainer, workdir, checkpoint=path)


def from_trainer(config, trainer, workdir, step=None, checkpoint=None):
    """A `Run` of a live trainer's current weights (e.g. during training).

    Args:
      config: the run's ConfigDict.
      trainer: its `Trainer`.
      workdir: the run directory.
      step: training steps done (None = the trainer's step variable).
      checkpoint: path of the checkpoint the weights came from, if any.
    """
    description = sources.describe(config.data)
    run = Run(
        workdir=workdir,
        config=config,
        step=int(trainer.step.numpy()) if step is None else int(step),
        checkpoint=checkpoint,
        trainer=trainer,
        encoder=None,
        image_size=models.input_size(config.encoder, config.image_size),
        raw_image_shape=description.raw_image_shape,
        class_names=list(description.class_names),
        channels=description.channels,
        eval_train_split=description.eval_train_split,
        eval_split=description.eval_split,
    )
    run.encoder = run._float32_encoder()
    run.encoder.set_weights(trainer.encoder.get_weights())
    return run
