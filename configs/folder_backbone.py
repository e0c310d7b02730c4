"""Your own photos with a Keras backbone at 96 pixels: two views, InfoNCE.

Commands:
  bin/train --config=configs/folder_backbone.py --config.data.dataset=./my_photos \
      --workdir=/tmp/dim_backbone
  bin/evaluate --workdir=/tmp/dim_backbone    # a labeled folder: linear, kNN
  bin/export --workdir=/tmp/dim_backbone      # uint8 images of any size in

The folder as in configs/folder_example.py (labeled, ImageFolder layout, or
not; .jpg, .png, .bmp, .gif of any size). `keras:EfficientNetV2B0` from
random initialisation (`--config.backbone.weights=` a local ImageNet no-top
weights file continues from it; `--config.encoder=keras:ResNet50` or any
other `keras.applications` name, or `file:my_model.keras`), 96x96 images:
two views of each photo through SimCLR's transform (`augment.preset=simclr`:
random resized crops of 8-100% of the area, flips, colour jitter, grey), Y
of one view scored against the other's local map (the end of the stride-8
stage, 12x12) with InfoNCE on scores divided by sqrt(units), penalised and
softly clipped as AMDIM's (configs/stl10_views.py), no prior matching.
Why this family and this local map: docs/quality.md ("Which backbone and
which local map per CPU-minute"). Cost per 1,000 steps on a CPU and the
memory of a step: docs/benchmarks.md ("Backbone recipes").
"""

from dim_tf.config import default_config


def get_config():
    config = default_config()
    # Replace with your folder (--config.data.dataset=PATH): an absolute path,
    # or one starting with ./ or ../ or ~.
    config.data.dataset = "./my_photos"
    config.data.channels = 3
    config.encoder = "keras:EfficientNetV2B0"
    config.image_size = 96
    config.objective.estimator = "nce"
    config.objective.prior = "none"
    config.objective.views = 2
    config.objective.scales = "y:local"
    config.augment.preset = "simclr"
    config.critic.units = 128
    config.critic.score_scale = "sqrt_units"
    config.critic.score_penalty = 0.05
    config.critic.score_clip = 20.0
    config.train.batch_size = 32
    config.train.steps = 5000
    config.train.log_every = 50
    config.train.checkpoint_every = 500
    # Sized for a CPU: a labeled folder gets linear probes and kNN.
    config.eval.kinds = "linear,knn"
    config.eval.mi.mine_steps = 300
    config.eval.mi.ndm_steps = 300
    # The 96x96x3 images and every tap of a 96-pixel trunk kept whole for
    # the probes, MINE and the decoder (the backbones' default pools more).
    config.eval.max_tap_features = 96 * 96 * 3
    return config
