"""Small folders of image files for the directory-dataset tests.

The images are scikit-learn's 8x8 digits upscaled to 28x28 (real pictures
whose class a probe can learn), written as PNG, JPEG, GIF or BMP files of
other sizes and channel counts where a test needs a mix.
"""

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image
from sklearn import datasets as sk_datasets

SIZE = 28


def digits(count, offset=0):
    """`count` digits as uint8 `[count, 28, 28]` and their int labels."""
    loaded = sk_datasets.load_digits()
    images = loaded.images[offset : offset + count] * (255.0 / 16.0)
    upscaled = [
        np.asarray(
            Image.fromarray(np.uint8(np.round(image))).resize(
                (SIZE, SIZE), Image.BILINEAR
            )
        )
        for image in images
    ]
    return np.stack(upscaled), loaded.target[offset : offset + count]


def write_image(path, pixels, file_format=None):
    """Writes uint8 `[H, W]` (grey) or `[H, W, 3 | 4]` pixels as an image file.

    The format comes from the extension unless `file_format` ("PNG", "JPEG",
    "GIF", "BMP") is given.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path, format=file_format)
    return path


def as_rgb(grey):
    """`[H, W]` -> `[H, W, 3]`, tinted so the three channels differ."""
    return np.stack([grey, grey // 2, 255 - grey], axis=-1).astype(np.uint8)


def labeled_folder(root, train=60, test=30, extras=True):
    """`root/{train,test}/CLASS/*.png` of digits (classes 0-9).

    With `extras`, each split also gets a few files of other formats, sizes
    and channels: an RGB JPEG 40x33, a grey JPEG 23x31, an RGBA PNG, a GIF
    and a BMP.

    Returns:
      `{split: [(path, label), ...]}` of every file written.
    """
    written = {}
    offset = 0
    for split, count in (("train", train), ("test", test)):
        images, labels = digits(count, offset)
        offset += count
        files = [
            (write_image(f"{root}/{split}/{label}/{i:04d}.png", image), int(label))
            for i, (image, label) in enumerate(zip(images, labels))
        ]
        if extras:
            grey, label = images[0], int(labels[0])
            big = np.asarray(Image.fromarray(grey).resize((40, 33)))
            small = np.asarray(Image.fromarray(grey).resize((23, 31)))
            rgba = np.concatenate(
                [as_rgb(grey), np.full_like(grey, 200)[..., None]], -1
            )
            directory = f"{root}/{split}/{label}"
            files += [
                (write_image(f"{directory}/rgb.JPG", as_rgb(big)), label),
                (write_image(f"{directory}/grey.jpeg", small), label),
                (write_image(f"{directory}/rgba.png", rgba), label),
                (write_image(f"{directory}/frame.gif", as_rgb(grey)), label),
                (write_image(f"{directory}/bitmap.bmp", as_rgb(grey)), label),
            ]
        written[split] = files
    return written


def flat_folder(root, count):
    """`count` digits without labels under `root`, in nested folders, mixed formats.

    Returns:
      The sorted paths.
    """
    images, _ = digits(count, offset=500)
    extensions = ("png", "jpg", "png", "bmp", "gif")
    paths = [
        write_image(
            f"{root}/album{i % 3}/{'deeper/' * (i % 2)}img{i:03d}.{extensions[i % 5]}",
            image if i % 2 else as_rgb(image),
        )
        for i, image in enumerate(images)
    ]
    return sorted(paths)


def encoded_png(pixels):
    """PNG bytes of uint8 `[H, W, C]` pixels."""
    return tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy()


def write_tfrecord(path, images, labels=None, image_key="image", label_key="label"):
    """A TFRecord file of `tf.train.Example`s: PNG bytes (+ int64 labels)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for i, image in enumerate(images):
            feature = {
                image_key: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[encoded_png(image[..., None])])
                )
            }
            if labels is not None:
                feature[label_key] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(labels[i])])
                )
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return path


def jpeg_bytes(pixels, quality=90):
    """JPEG bytes of uint8 pixels (for files written by hand)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def other_size_jpeg(path):
    """A grey digit written as an RGB JPEG of 50 x 37; returns (path, uint8 [50, 37, 3])."""
    pixels = as_rgb(digits(1, offset=1000)[0][0])
    jpeg = write_image(
        str(path), np.asarray(tf.image.resize(pixels, [50, 37]), np.uint8)
    )
    image = tf.io.decode_image(
        tf.io.read_file(jpeg), channels=3, expand_animations=False
    )
    return jpeg, image
