"""Augmented training views: (resized) crops, flips, shifts, colour jitter, grayscale.

One uint8 `[H, W, C]` image -> `views` float32 `[S, S, C]` in [-1, 1], by
stateless ops seeded from the example's seed (a resume sees the same views).
"""

import dataclasses

import tensorflow as tf

# Per-op seed integers: 0-5, 6-7 translation, 8 the shared flip; view v > 0
# folds _VIEW_SEED_BASE + v, clear of all those.
_TRANSLATE_SEED, _TRANSLATE_DRAW = 6, 7
_SHARED_FLIP_SEED = 8
_VIEW_SEED_BASE = 1000


def _fold(seed, k):
    return tf.random.experimental.stateless_fold_in(seed, k)


def crop_and_flip(image, seed, image_size, fixed_crop, flip):
    """The `data.random_crop` / `data.random_flip` augmentation of uint8 `[H, W, C]`.

    At most S x S (no resizing), then a flip; seeds `(seed, 0)`, `(seed, 1)`.
    """
    if fixed_crop:
        height = static_minimum(static_dim(image, 0), image_size)
        width = static_minimum(static_dim(image, 1), image_size)
        size = tf.stack(
            [height, width, static_dim(image, 2)]
        )  # Static if the shape is.
        image = tf.image.stateless_random_crop(image, size, _fold(seed, 0))
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, _fold(seed, 1))
    return image


def make_views(image, seed, image_size, augmentation, views, to_model_input):
    """`views` augmented model inputs of one stored image.

    A shared flip (`augmentation.shared_flip`) is drawn once (AMDIM's order).

    Args:
      image: uint8 `[H, W, C]`, with the encoder's channels C.
      seed: int64 `[2]`, the example's seed (view 0's).
      image_size: S, the encoder's input size.
      augmentation: `dim_tf.input.Augmentation`.
      views: 1 or 2.
      to_model_input: `[h, w, C]` in [0, 255] -> float32 `[S, S, C]` in [-1, 1].

    Returns:
      float32 `[S, S, C]` for one view, `[views, S, S, C]` for more.
    """
    if views > 1 and augmentation.flip and augmentation.shared_flip:
        image = tf.image.stateless_random_flip_left_right(
            image, _fold(seed, _SHARED_FLIP_SEED)
        )
        augmentation = dataclasses.replace(augmentation, flip=False)
    outputs = [
        _one_view(
            image, _view_seed(seed, view), image_size, augmentation, to_model_input
        )
        for view in range(views)
    ]
    return outputs[0] if views == 1 else tf.stack(outputs)


def _view_seed(seed, view):
    """The example's seed for view 0 (the one-view stream's), else a folded one."""
    return seed if view == 0 else _fold(seed, _VIEW_SEED_BASE + view)


def _one_view(image, seed, image_size, augmentation, to_model_input):
    if not augmentation.resized_crop:
        image = crop_and_flip(
            image, seed, image_size, augmentation.fixed_crop, augmentation.flip
        )
        pixels = to_model_input(image) * 0.5 + 0.5  # [S, S, C] in [0, 1]
    else:
        pixels = random_resized_crop(image, _fold(seed, 2), image_size, augmentation)
        if augmentation.flip:
            pixels = tf.image.stateless_random_flip_left_right(pixels, _fold(seed, 1))
    if augmentation.translate > 0 and augmentation.translate_probability > 0:
        shifted = random_translate(
            pixels, _fold(seed, _TRANSLATE_SEED), augmentation.translate
        )
        pixels = _maybe(
            shifted, pixels, augmentation.translate_probability, seed, _TRANSLATE_DRAW
        )
    if augmentation.jitter > 0 and augmentation.jitter_probability > 0:
        jittered = colour_jitter(
            pixels, _fold(seed, 3), augmentation.jitter, augmentation.hue_bound
        )
        pixels = _maybe(jittered, pixels, augmentation.jitter_probability, seed, 4)
    if augmentation.grayscale_probability > 0 and pixels.shape[-1] == 3:
        gray = tf.tile(tf.image.rgb_to_grayscale(pixels), [1, 1, 3])
        pixels = _maybe(gray, pixels, augmentation.grayscale_probability, seed, 5)
    return tf.clip_by_value(pixels, 0.0, 1.0) * 2.0 - 1.0


def random_resized_crop(image, seed, image_size, augmentation):
    """uint8 `[H, W, C]` -> float32 `[S, S, C]` in [0, 1]: a random window resized.

    Area fraction and aspect ratio from `augmentation`.
    """
    _, _, box = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=augmentation.aspect_ratio,
        area_range=(augmentation.crop_scale_min, augmentation.crop_scale_max),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    pixels = tf.cast(image, tf.float32)[tf.newaxis] / 255.0
    crop = tf.image.crop_and_resize(
        pixels, tf.reshape(box, [1, 4]), [0], [image_size, image_size]
    )
    return crop[0]


def random_translate(pixels, seed, max_shift):
    """`pixels` float `[S, S, C]` shifted by whole pixels, the border reflected.

    AMDIM's `RandomTranslateWithReflect(max_shift)` (amdim-public datasets.py):
    dy, dx uniform in [-max_shift, max_shift], the border reflected (tf.pad's
    REFLECT, the edge not repeated).

    Args:
      pixels: float `[S, S, C]`; `max_shift` < S.
      seed: int `[2]`.
      max_shift: n >= 1.
    """
    pad = [[max_shift, max_shift], [max_shift, max_shift], [0, 0]]
    padded = tf.pad(pixels, pad, mode="REFLECT")
    return tf.image.stateless_random_crop(padded, tf.shape(pixels), seed)


def colour_jitter(pixels, seed, strength, hue):
    """Brightness, contrast, saturation, hue jitter of float `[S, S, C]` in [0, 1].

    Close to PyTorch's `ColorJitter(0.8 s, 0.8 s, 0.8 s, hue)`; it differs in
    a fixed order, contrast towards each channel's mean, HSV saturation and
    float pixels (docs/method.md). One-channel images: brightness and contrast.

    Args:
      pixels: float `[S, S, C]` in [0, 1]; the result too.
      seed: int `[2]`.
      strength: s > 0.
      hue: the hue shift's bound in [0, 0.5] (`Augmentation.hue_bound`).
    """
    amount = 0.8 * strength
    low, high = max(0.0, 1.0 - amount), 1.0 + amount
    factor = tf.random.stateless_uniform([], _fold(seed, 0), low, high)
    pixels = tf.clip_by_value(pixels * factor, 0.0, 1.0)
    pixels = tf.image.stateless_random_contrast(pixels, low, high, _fold(seed, 1))
    if pixels.shape[-1] == 3:
        pixels = tf.clip_by_value(pixels, 0.0, 1.0)
        pixels = tf.image.stateless_random_saturation(pixels, low, high, _fold(seed, 2))
        if hue > 0:
            pixels = tf.image.stateless_random_hue(pixels, hue, _fold(seed, 3))
    return tf.clip_by_value(pixels, 0.0, 1.0)


def _maybe(changed, original, probability, seed, k):
    """`changed` with the given probability, else `original` (seeded by (seed, k))."""
    draw = tf.random.stateless_uniform([], _fold(seed, k))
    return tf.where(draw < probability, changed, original)


def static_dim(x, axis):
    """Static size of `axis` when known, else the dynamic one."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def static_minimum(a, b):
    """`min(a, b)` of Python ints, else `tf.minimum`."""
    return min(a, b) if isinstance(a, int) else tf.minimum(a, b)
