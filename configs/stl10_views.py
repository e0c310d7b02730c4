"""STL-10 the AMDIM way: two augmented views, three MI scales, InfoNCE (for GPUs).

Command:
  bin/train --config=configs/stl10_views.py --workdir=/tmp/dim_stl10_views

The paper's alex64x64 encoder on the labeled train split plus the 100,000
unlabelled images, with what AMDIM (Bachman, Hjelm and Buchwalter 2019)
added to DIM: two views of each image through AMDIM's STL-10 transform
(`augment.preset=amdim`, amdim-public datasets.py `TransformsSTL10`: one
horizontal flip per image, then per view a random resized 64x64 crop of
30-100% of the 96x96 image, aspect 0.7-1.4, colour jitter 0.4 / 0.4 / 0.4 /
hue 0.2 (p 0.8) and grayscale (p 0.25)); Y of one view against the other
view's 15x15 local map (the paper's DIM(L)) and 7x7 last-block map, and the
7x7 map of one view against the other's (AMDIM's 1-to-7, 1-to-5 and 5-to-5
pairs at this encoder's scales); InfoNCE on scores stabilised as
AMDIM's (below); no prior matching. Evaluation resizes the whole 96x96
image to 64x64 (AMDIM's test transform: resize to 70, center crop 64).

Targets: DIM(L)'s published 72.86 / 70.85 / 65.93 % (conv / fc / Y,
configs/stl10_local_jsd.py) is the number to beat; AMDIM reports about 94%
linear accuracy on STL-10 with its own much larger encoder, which this
recipe does not use. Two views and three scales cost three times
configs/stl10_local_jsd.py's step (BUILD.md, Speed); use a GPU.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 105_000


def get_config():
    config = default_config()
    config.data.dataset = "stl10"
    config.data.train_split = "train+unlabelled"
    config.encoder = "alex64x64"
    config.objective.estimator = "nce"
    config.objective.prior = "none"
    config.objective.views = 2
    config.objective.scales = "y:local=1,y:conv5=1,conv5:conv5=1"
    config.augment.preset = "amdim"
    # AMDIM's score stabilisers (amdim-public costs.py, `_model_scores`):
    # dot products / sqrt(embedding width), 0.05 * mean(s^2) of those scores
    # added to the loss (summed over the pairs, averaged over both
    # directions), then 20 * tanh(s / 20) (train.py's --tclip 20) before
    # InfoNCE. Its 5-to-5 term scores one random source location per image,
    # the conv5:conv5 pair here every location (the penalty's mean with it).
    config.critic.score_scale = "sqrt_units"
    config.critic.score_penalty = 0.05
    config.critic.score_clip = 20.0
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    # 105,000 decoded 96x96x3 images are 2.9 GB: read them from disk instead
    # (as configs/stl10_local_jsd.py).
    config.data.cache = False
    return config
