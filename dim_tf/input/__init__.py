"""Input: TFDS datasets by name (and the embedded `digits`), directories of image files or TFRecords, the tf.data pipelines, read errors.

The augmentation presets (`augment.preset`) and their resolution live here
TensorFlow-free, so `dim_tf.config` can check them without building anything.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What each training view goes through (dim_tf/input/augment.py).

    Attributes:
      resized_crop: a random crop of a random area fraction in
        [crop_scale_min, crop_scale_max] and aspect ratio in `aspect_ratio`,
        resized to the encoder's size (SimCLR's / AMDIM's "random resized
        crop"). False: the whole image (or, with `fixed_crop`, a crop of the
        encoder's size).
      fixed_crop: a random crop of the encoder's size, no resizing (the
        `data.random_crop` augmentation).
      flip: random horizontal flips.
      shared_flip: with two views, one flip draw per image that both views
        share (AMDIM's order: flip, then each view's transform); False:
        each view draws its own (SimCLR's).
      translate: n > 0: the view (at the encoder's size) shifted by whole
        pixels dy, dx, each uniform in [-n, n], the uncovered border filled
        by reflection (AMDIM's `RandomTranslateWithReflect(n)`); 0 = off.
      translate_probability: chance that a view is translated at all.
      jitter: colour-jitter strength s: brightness, contrast and saturation
        factors in [1 - 0.8 s, 1 + 0.8 s], and a hue shift (0 = no colour
        jitter at all). On 1-channel images only brightness and contrast
        apply.
      hue: the hue shift's bound, a fraction of the colour wheel in
        [0, 0.5]; None = 0.2 s (SimCLR's ratio).
      jitter_probability: chance that a view is jittered at all.
      grayscale_probability: chance that a view becomes grayscale (3-channel
        images only).
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

        With no random part, or only a flip both views share, they are always
        the same; grayscale changes 3-channel views only.

        Args:
          channels: the views' channels (`data.channels`; None: as stored,
            possibly 3).
        """
        return (
            self.resized_crop
            or self.fixed_crop
            or (self.flip and not self.shared_flip)
            or (self.translate > 0 and self.translate_probability > 0)
            or (self.jitter > 0 and self.jitter_probability > 0)
            or (channels != 1 and 0 < self.grayscale_probability < 1)
        )


# AMDIM's colour jitter and grayscale (amdim-public datasets.py, its CIFAR10
# and STL-10 transforms): `RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.2)],
# p=0.8)`, `RandomGrayscale(p=0.25)`, one `RandomHorizontalFlip` per image
# before both views' transforms (its ImageNet128 transform: hue 0.1).
_AMDIM_COLOUR = dict(
    flip=True,
    shared_flip=True,
    jitter=0.5,
    hue=0.2,
    jitter_probability=0.8,
    grayscale_probability=0.25,
)

# Preset -> its augmentation. "none" leaves the `data.random_crop` /
# `data.random_flip` flags in charge (the paper's setups); "flip_crop" is
# both flags on; "simclr" follows SimCLR (Chen et al. 2020) at its CIFAR
# strength 0.5 (ColorJitter(0.4, 0.4, 0.4, 0.1)), each view flipped on its
# own. "amdim" is AMDIM's (Bachman et al. 2019) STL-10 transform
# (`TransformsSTL10`): random resized crop of 30-100% of the area, aspect
# 0.7-1.4, jitter (0.4, 0.4, 0.4, hue 0.2) with p 0.8, grayscale p 0.25, one
# flip per image; its ImageNet128 transform is the same with hue 0.1
# (`augment.hue=0.1`). "amdim_cifar10" is AMDIM's CIFAR10 / CIFAR100
# transform (`TransformsC10`): no crop, a reflect-padded translation of up to
# 4 pixels with p 0.8, then the same jitter, grayscale and flip.
# docs/method.md lists where these differ from torchvision's ops.
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
# The `augment` fields that override a preset's value when set (None = the
# preset's).
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
      augment_config: the `augment` section (`preset` and the knobs of
        `AUGMENT_KNOBS`, None = the preset's value).
      data_config: the `data` section; with preset "none" its `random_crop`
        and `random_flip` flags decide, as before the presets.

    Returns:
      `Augmentation`.

    Raises:
      ValueError: an unknown preset (`dim_tf.config` reports it to users first).
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
    """Whether training crops windows of the encoder's size (evaluation then
    center-crops images larger than that instead of resizing them)."""
    return resolve_augmentation(augment_config, data_config).fixed_crop
