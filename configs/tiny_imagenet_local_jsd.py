"""Tiny-ImageNet-style run: DIM(L) with JSD on 64x64 ImageNet, alex64x64 encoder.

Command:
  bin/train --config=configs/tiny_imagenet_local_jsd.py --workdir=/tmp/dim_in64

TFDS `imagenet_resized/64x64` (1.28M images, 1,000 classes; it needs the
ImageNet download files in manual_dir, see BUILD.md) stands in for Tiny
ImageNet (200 classes), which TFDS does not carry. Random crops are off: the
images are already 64x64; flips on. Use GPUs (cost per step: BUILD.md,
Speed).
Paper, Tiny ImageNet (conv / fc / Y, top-1 %): 33.54 / 36.88 / 31.66.
"""

from dim_tf.config import default_config


def get_config():
    config = default_config()
    config.data.dataset = "imagenet_resized/64x64"
    config.data.eval_split = "validation"
    config.encoder = "alex64x64"
    config.data.random_flip = True
    config.data.cache = False
    config.train.steps = 200 * 1_281_167 // config.train.batch_size
    return config
