"""CIFAR10 the AMDIM way: two augmented views, three MI scales, InfoNCE (for GPUs).

Command:
  bin/train --config=configs/cifar10_views.py --workdir=/tmp/dim_cifar10_views

The paper's basic32x32 encoder with what AMDIM (Bachman, Hjelm and
Buchwalter 2019) added to DIM: each image gives two views through AMDIM's
CIFAR10 transform (`augment.preset=amdim_cifar10`, amdim-public datasets.py
`TransformsC10`: one horizontal flip per image, then per view a shift of up
to 4 pixels with the border reflected (p 0.8), colour jitter 0.4 / 0.4 /
0.4 / hue 0.2 (p 0.8) and grayscale (p 0.25); no crops); Y of one view is
scored against the other view's 8x8 local map (the paper's DIM(L)) and 4x4
last-block map, and the 4x4 map of one view against the 4x4 map of the
other (AMDIM's 1-to-7, 1-to-5 and 5-to-5 pairs at this encoder's scales);
InfoNCE on scores stabilised as AMDIM's (below); no prior matching.

Targets: DIM(L)'s published 75.21 / 75.57 / 69.13 % (conv / fc / Y, InfoNCE,
configs/cifar10_local_nce.py) is the number to beat; AMDIM reports about
91% linear accuracy on CIFAR10 with its own much larger encoder, which this
recipe does not use. Two views and three scales cost several times
configs/cifar10_local_jsd.py's step (BUILD.md, Speed); use a GPU.
"""

from dim_tf.config import default_config

EPOCHS = 1000
TRAIN_EXAMPLES = 50_000


def get_config():
    config = default_config()
    config.data.dataset = "cifar10"
    config.objective.estimator = "nce"
    config.objective.prior = "none"
    config.objective.views = 2
    config.objective.scales = "y:local=1,y:conv3=1,conv3:conv3=1"
    config.augment.preset = "amdim_cifar10"
    # AMDIM's score stabilisers (amdim-public costs.py, `_model_scores`):
    # dot products / sqrt(embedding width), 0.05 * mean(s^2) of those scores
    # added to the loss (summed over the pairs, averaged over both
    # directions), then 20 * tanh(s / 20) (train.py's --tclip 20) before
    # InfoNCE. Its 5-to-5 term scores one random source location per image,
    # the conv3:conv3 pair here every location (the penalty's mean with it).
    config.critic.score_scale = "sqrt_units"
    config.critic.score_penalty = 0.05
    config.critic.score_clip = 20.0
    config.train.steps = EPOCHS * TRAIN_EXAMPLES // config.train.batch_size
    return config
