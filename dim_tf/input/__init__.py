"""Input: TFDS datasets, image directories and TFRecords, the tf.data pipelines.

The augmentation presets and their resolution live here TensorFlow-free, so
`dim_tf.config` can check them without building anything.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What each training view goes through; the fields are docs/method.md's knobs.

    `resized_crop`: a random crop of the `crop_scale_*` area and `aspect_ratio`
    resized to the encoder's size; `fixed_crop`: a random crop of that size.
    """

    resized_crop: bool = False
    fixed_crop: bool = False
    crop_scale_min: float = 1.0
    crop_scale_max: float = 1.0
    aspect_ratio: tuple = (1.0, 1.0)
    flip: bool = False
    shared_flip: bool = False
    translate: int = 0
    translate_probability: float = 0.0
    jitter: float = 0.0
    hue: Optional[float] = None
    jitter_probability: float = 0.0
    grayscale_probability: float = 0.0

    @property
    def hue_bound(self):
        """The hue shift's bound: `hue`, or 0.2 s when unset (at most 0.5)."""
        return min(0.5, 0.2 * self.jitter) if self.hue is None else self.hue

    def views_can_differ(self, channels):
        """Whether two views of one image can come out different.

        Args:
          channels: the views' channels (`data.channels`; None: as stored).
        """
        return (
            self.resized_crop
            or self.fixed_crop
            or (self.flip and not self.shared_flip)
            or (self.translate > 0 and self.translate_probability > 0)
            or (self.jitter > 0 and self.jitter_probability > 0)
            or (channels != 1 and 0 < self.grayscale_probability < 1)
        )


# AMDIM's colour jitter, grayscale and one flip per image (amdim-public datasets.py).
_AMDIM_COLOUR = dict(
    flip=True,
    shared_flip=True,
    jitter=0.5,
    hue=0.2,
    jitter_probability=0.8,
    grayscale_probability=0.25,
)

# Preset -> its augmentation (docs/method.md, with the differences from sources).
AUGMENT_PRESETS = {
    "none": Augmentation(),
    "flip_crop": Augmentation(fixed_crop=True, flip=True),
    "simclr": Augmentation(
        resized_crop=True,
        crop_scale_min=0.08,
        aspect_ratio=(3 / 4, 4 / 3),
        flip=True,
        jitter=0.5,
        jitter_probability=0.8,
        grayscale_probability=0.2,
    ),
    "amdim": Augmentation(
        resized_crop=True,
        crop_scale_min=0.3,
        aspect_ratio=(0.7, 1.4),
        **_AMDIM_COLOUR,
    ),
    "amdim_cifar10": Augmentation(
        translate=4, translate_probability=0.8, **_AMDIM_COLOUR
    ),
}
PRESETS = tuple(AUGMENT_PRESETS)
# The `augment` fields that override a preset's value when set.
AUGMENT_KNOBS = (
    "crop_scale_min",
    "crop_scale_max",
    "flip",
    "shared_flip",
    "translate",
    "translate_probability",
    "jitter",
    "hue",
    "jitter_probability",
    "grayscale_probability",
)


def resolve_augmentation(augment_config, data_config):
    """The `Augmentation` a run's training views get.

    Args:
      augment_config: the `augment` section (None knobs = the preset's).
      data_config: the `data` section; with preset "none" its `random_crop`
        and `random_flip` flags decide.

    Returns:
      `Augmentation`.

    Raises:
      ValueError: an unknown preset.
    """
    preset = augment_config.preset
    if preset not in AUGMENT_PRESETS:
        raise ValueError(
            f"unknown augment.preset {preset!r}; choose one of {', '.join(PRESETS)}"
        )
    base = AUGMENT_PRESETS[preset]
    if preset == "none":
        base = dataclasses.replace(
            base,
            fixed_crop=bool(data_config.random_crop),
            flip=bool(data_config.random_flip),
        )
    changes = {
        knob: augment_config[knob]
        for knob in AUGMENT_KNOBS
        if augment_config[knob] is not None
    }
    return dataclasses.replace(base, **changes)


def trains_on_fixed_crops(augment_config, data_config):
    """Whether training crops windows of the encoder's size (then evaluation
    center-crops larger images instead of resizing them)."""
    return resolve_augmentation(augment_config, data_config).fixed_crop
