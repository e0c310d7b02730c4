"""Quick start: DIM(L) with JSD on the embedded `digits` dataset (no download).

Command:
  bin/train --config=configs/quickstart.py --workdir=/tmp/dim_quickstart

1,797 real 8x8 scikit-learn digits, resized to 28x28, basic28x28 encoder, a
128-unit encode-and-dot critic, batch 64, 400 steps. The paper's 2048-unit
critic starts with large dot-product scores (a strongly negative JSD
estimate) and costs more per step; measured here over 400 steps, 128 units
reached a local JSD estimate of 0.68 nats and 512 units only 0.30, in less
time. With `--config.critic.score_scale=sqrt_units --config.critic.score_clip=20`
the 2048-unit critic's estimate is 0.47 nats at step 50 instead of -11.6
(docs/method.md, Score regularisation). About 3.5 minutes for 400 steps on a busy 2-core CPU (under
2 minutes on a quiet one); the local JSD estimate rises from about -0.5 nats at step 50
to about 0.7 at step 400.

Then `bin/evaluate --workdir=/tmp/dim_quickstart` (about 90 s) prints the
probe table; measured: linear probes conv / fc / y 98.61 / 98.06 / 93.61 %
(random encoder 98.61 / 97.78 / 91.11), mlp 98.61 / 98.89 / 97.22, kNN
96.11 / 96.11 / 94.72, SVM 97.50 / 98.06 / 97.22, with 10 labels per class
91.94 / 93.89 / 91.11 (random 88.89 / 90.56 / 87.50); images rebuilt from Y
by the decoder: MS-SSIM 0.954.
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
    # the default (None). Kept explicit so that quick-start workdirs recorded
    # before that default still resume.
    config.data.shuffle_buffer = 2000
    # Probes, MINE and NDM sized for a CPU: 1,437 training and 360 test images.
    # The fine-tuned ("SS") probes add about a minute; ask for them with
    # bin/evaluate --workdir=DIR --kinds=linear,mlp,finetune,... The decoder's
    # MS-SSIM costs about 9 CPU-seconds here (10 epochs).
    config.eval.kinds = "linear,mlp,knn,svm,decoder"
    # About 7 and 29 labeled digits per class.
    config.eval.label_fractions = "0.05,0.2"
    # About 144 training digits a class: 200 neighbours would span more than
    # a class (measured on conv / fc: 96.11 / 96.11 % with 20, 94.44 / 94.44
    # with 200).
    config.eval.knn_k = 20
    # On a large training set the kNN of the 6,272 conv features is the
    # costliest evaluation; bfloat16 products where the CPU runs them faster
    # (measured on 50,000 x 6,272: 38 s -> 23 s, 71 of 10,000 test
    # predictions changed, accuracy -0.02 points).
    config.eval.knn_precision = "auto"
    # The mlp probes' hidden layer likewise, on conv (measured on those conv
    # features, 3 seeds: 40 s -> 25 s of training, test accuracy within the
    # seeds' spread).
    config.eval.mlp_precision = "auto"
    config.eval.batch_size = 64
    config.eval.finetune_epochs = 2
    config.eval.finetune_learning_rate = 1e-3
    config.eval.mine_steps = 300
    config.eval.ndm_steps = 300
    return config
