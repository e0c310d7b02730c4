"""STL-10, DIM(L) with JSD on the alex64x64 encoder, random 64x64 crops and flips.

Command:
  bin/train --config=configs/stl10_local_jsd.py --workdir=/tmp/dim_stl10

DIM trains on the labeled train split plus the 100,000 unlabelled images
(TFDS split `unlabelled`); 96x96 images are randomly cropped to 64x64 and
flipped; evaluation takes the centre 64x64 crop. Use a GPU (cost per step:
BUILD.md, Speed).
Paper (conv / fc / Y, top-1 %): 72.86 / 70.85 / 65.93.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 105_000


def get_config():
    config = default_config()
    config.data.dataset = "stl10"
    config.data.train_split = "train+unlabelled"
    config.encoder = "alex64x64"
    config.data.random_crop = True
    config.data.random_flip = True
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    # 105,000 decoded 96x96x3 images are 2.9 GB: read them from disk instead.
    # Uncached, the shuffle buffer holds 10,000 images and the labeled and
    # unlabelled files are read interleaved, so every batch mixes the two.
    config.data.cache = False
    return config
