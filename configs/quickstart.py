"""Quick start: DIM(L) with JSD on the embedded `digits` dataset (no download).

Command:
  bin/train --config=configs/quickstart.py --workdir=/tmp/dim_quickstart

1,797 real 8x8 scikit-learn digits, resized to 28x28, basic28x28 encoder, a
128-unit encode-and-dot critic, batch 64, 400 steps. The paper's 2048-unit
critic starts with large dot-product scores (a strongly negative JSD
estimate) and costs more per step; a small critic learns faster within a
short run (docs/benchmarks.md; docs/method.md, Score regularisation).
Expected: a few minutes on a 2-core CPU, the local JSD estimate rising to
about 0.7 nats by step 400 (docs/benchmarks.md).

Then `bin/evaluate --workdir=/tmp/dim_quickstart` prints the probe table
(expected values: docs/usage.md, The quick start's probe table; timings:
docs/benchmarks.md).
"""

from dim_tf.config import default_config


def get_config():
    config = default_config()
    config.data.dataset = "digits"
    config.encoder = "basic28x28"
    config.critic.units = 128
    config.train.steps = 400
    config.train.log_every = 50
    config.train.checkpoint_every = 200
    # More than the 1,437 training images: a full shuffle, the same stream as
    # the default (None).
    config.data.shuffle_buffer = 2000
    # Probes, MINE and NDM sized for a CPU: 1,437 training and 360 test images.
    # The fine-tuned ("SS") probes cost the most (docs/benchmarks.md); ask
    # for them with bin/evaluate --workdir=DIR --kinds=linear,mlp,finetune,...
    config.eval.kinds = "linear,mlp,knn,svm,decoder"
    # About 7 and 29 labeled digits per class.
    config.eval.label_fractions = "0.05,0.2"
    # About 144 training digits a class: 200 neighbours would span more than
    # a class (docs/benchmarks.md).
    config.eval.knn.k = 20
    config.eval.batch_size = 64
    config.eval.finetune.epochs = 2
    config.eval.finetune.learning_rate = 1e-3
    config.eval.mi.mine_steps = 300
    config.eval.mi.ndm_steps = 300
    return config
