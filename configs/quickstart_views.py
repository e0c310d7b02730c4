"""Quick start beyond the paper: two augmented views, InfoNCE, regularised scores.

Command:
  bin/train --config=configs/quickstart_views.py --workdir=/tmp/dim_views
  bin/evaluate --workdir=/tmp/dim_views

The embedded `digits` at 28x28 with the quick start's basic28x28 encoder and
128-unit critics, changed the way AMDIM (Bachman et al. 2019) changed DIM:

- `objective.views=2`: each image gives two augmented views; Y of one view
  is scored against the 7x7 local features of the other, both ways
  (`objective.scales="y:local"`; AMDIM's extra pairs, e.g.
  `"y:local=1,y:conv1=0.5,local:local=0.5"`, cost more per step and did
  worse within a short budget, docs/quality.md);
- `augment.preset=amdim` without flips (a mirrored digit is another symbol),
  random resized crops of 60-100% of the area, brightness / contrast jitter;
- InfoNCE, AMDIM's estimator, no prior matching, and the critics' scores
  divided by sqrt(units) and softly clipped at 20 (`critic.score_scale`,
  `critic.score_clip`) so the estimates start near zero.

About 1.5 times configs/quickstart.py's step time (BUILD.md, Speed).
Expected result: at the same training time, better few-label probes than
configs/quickstart.py, by more than the seeds' spread (docs/quality.md:
commands and every probe).

Every field can be set on the command line, e.g. the paper's single view:
  --config.objective.views=1 --config.augment.preset=none
"""

from dim_tf.config import default_config


def get_config():
    config = default_config()
    config.data.dataset = "digits"
    config.data.shuffle_buffer = 2000  # All 1,437 training images: a full shuffle.
    config.encoder = "basic28x28"
    config.critic.units = 128
    config.objective.estimator = "nce"
    config.objective.prior = "none"
    config.objective.views = 2
    config.objective.scales = "y:local"
    config.critic.score_scale = "sqrt_units"
    config.critic.score_clip = 20.0
    config.augment.preset = "amdim"
    config.augment.flip = False
    config.augment.crop_scale_min = 0.6
    config.train.steps = 400
    config.train.log_every = 50
    config.train.checkpoint_every = 200
    # Probes, MINE and NDM sized for a CPU, as in configs/quickstart.py.
    config.eval.kinds = "linear,mlp"
    config.eval.batch_size = 64
    config.eval.finetune.epochs = 2
    config.eval.finetune.learning_rate = 1e-3
    config.eval.mi.mine_steps = 300
    config.eval.mi.ndm_steps = 300
    return config
