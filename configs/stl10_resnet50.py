"""STL-10 with a Keras ResNet50 at 96 pixels: two views, InfoNCE (for GPUs).

Command:
  bin/train --config=configs/stl10_resnet50.py --workdir=/tmp/dim_stl10_resnet50
  bin/evaluate --workdir=/tmp/dim_stl10_resnet50

`keras:ResNet50` from random initialisation (or `--config.backbone.weights=`
a local ImageNet no-top weights file) on the labeled train split plus the
100,000 unlabelled images at their own 96x96 size: two views of each image
through SimCLR's transform (`augment.preset=simclr`), Y of one view scored
against the other's local map (the end of ResNet50's stride-8 stage,
`conv3_block4_out`, 12x12x512) with InfoNCE on scores divided by
sqrt(units), penalised and softly clipped as AMDIM's (configs/stl10_views.py),
no prior matching; batch 256 with batch statistics over all replicas and
Adam at 2e-4 (AMDIM's STL-10 rate, amdim-public train.py).

Target: above the paper's DIM(L) on STL-10, 72.86 / 70.85 / 65.93 % linear
accuracy on conv / fc / Y (configs/stl10_local_jsd.py, a 64-pixel
AlexNet-like encoder), towards AMDIM's 94 % with its own larger encoder.
Cost per 1,000 steps on a CPU and the memory of a step: docs/benchmarks.md
("Backbone recipes"); use GPUs (`strategy=mirrored`): `train.precision=auto`
computes in mixed bfloat16 from compute capability 8.0 (before it,
`--config.train.precision=mixed_float16` is the fast setting).
"""

from dim_tf.config import default_config

EPOCHS = 200
TRAIN_EXAMPLES = 105_000


def get_config():
    config = default_config()
    config.data.dataset = "stl10"
    config.data.train_split = "train+unlabelled"
    config.data.channels = 3
    # 105,000 decoded 96x96x3 images are 2.9 GB: read them from disk.
    config.data.cache = False
    config.encoder = "keras:ResNet50"
    config.image_size = 96
    config.objective.estimator = "nce"
    config.objective.prior = "none"
    config.objective.views = 2
    config.objective.scales = "y:local"
    config.augment.preset = "simclr"
    config.critic.score_scale = "sqrt_units"
    config.critic.score_penalty = 0.05
    config.critic.score_clip = 20.0
    config.train.batch_size = 256
    config.train.learning_rate = 2e-4
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    config.train.checkpoint_every = 2000
    # The 96x96x3 images and every tap of a 96-pixel trunk kept whole for
    # the probes, MINE and the decoder (the backbones' default pools more).
    config.eval.max_tap_features = 96 * 96 * 3
    return config
