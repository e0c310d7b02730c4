"""Quick start: DIM(L) with JSD on the embedded `digits` dataset (no download).

Command:
  bin/train --config=configs/quickstart.py --workdir=/tmp/dim_quickstart

1,797 real 8x8 scikit-learn digits, resized to 28x28, basic28x28 encoder,
a 512-unit encode-and-dot critic (the paper's 2048 gives larger initial scores
and fewer steps per CPU-minute here; see PAPER.md). 600 steps of batch 64
take about 2 minutes on a 2-core CPU (about 0.2 s per step, so 1,000 steps
are about 3.5 minutes); the local JSD estimate rises from about 0.1 to about
0.6 nats over the run.
"""

from configs import base


def get_config():
    config = base.get_config()
    config.dataset = "digits"
    config.encoder = "basic28x28"
    config.critic.units = 512
    config.train.steps = 600
    config.train.log_every = 50
    config.train.checkpoint_every = 200
    config.train.shuffle_buffer = 2000
    return config
