"""Your own photos: DIM(L) with JSD on a folder of images, 64x64, sized for a CPU.

The folder, either labeled (TFDS's ImageFolder layout; the class names are
the folder names) or not (every image below it, in any subfolders):

  my_images/                         my_images/
    train/                             2023/holiday/IMG_0001.jpg
      cat/ 0001.jpg 0002.png ...       2023/holiday/IMG_0002.jpg
      dog/ ...                         scans/page1.png ...
    test/
      cat/ ...
      dog/ ...

Any mix of .jpg, .jpeg, .png, .bmp and .gif files (GIF: the first frame),
of any size, grey or colour. Each image is resized (aspect kept) so that its
shorter side is 72 pixels and its central 72x72 square is cached; training
cuts random 64x64 crops (and flips) from it, evaluation and the exported
models take the central 64x64.

Commands:
  bin/train --config=configs/folder_example.py --config.data.dataset=./my_images \
      --workdir=/tmp/dim_photos
  bin/evaluate --workdir=/tmp/dim_photos    # probes if labeled; MINE, NDM, views
  bin/export --workdir=/tmp/dim_photos      # SavedModels in /tmp/dim_photos/export

Embedding an image with the exported encoder, in plain TensorFlow (any size;
the fitting to 64x64 is inside the SavedModel):

  import tensorflow as tf
  encoder = tf.saved_model.load("/tmp/dim_photos/export/encoder")
  image = tf.io.decode_image(tf.io.read_file("photo.jpg"), channels=3,
                             expand_animations=False)        # uint8 [H, W, 3]
  y = encoder.signatures["serving_default"](images=image[None])["y"]  # [1, 64]

basic64x64 encoder, a 128-unit encode-and-dot critic, batch 32, 2,000 steps
(step and input pipeline speed: docs/benchmarks.md).
"""

from dim_tf.config import default_config


def get_config():
    config = default_config()
    # Replace with your folder (--config.data.dataset=PATH): an absolute path,
    # or one starting with ./ or ../ or ~.
    config.data.dataset = "./my_images"
    config.data.channels = 3
    config.data.random_crop = True
    config.data.random_flip = True
    config.encoder = "basic64x64"
    config.critic.units = 128
    config.train.batch_size = 32
    config.train.steps = 2000
    config.train.log_every = 50
    config.train.checkpoint_every = 500
    # Sized for a CPU; a labeled folder also gets linear and mlp probes.
    config.eval.kinds = "linear,mlp"
    config.eval.mi.mine_steps = 300
    config.eval.mi.ndm_steps = 300
    return config
