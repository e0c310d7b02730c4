"""Evaluator `mi`: MINE's I(X; Y) and NDM of Y, Donsker-Varadhan bounds in nats.

MINE (Belghazi et al. 2018) and NDM (the official DIM code's Dense
1000-200-1 discriminator of Y against its dimension-shuffled copy) as in
the paper's evaluation (docs/protocol.md): each network trains on
standardised samples and its bound is measured on held-out ones, so
memorised pairs do not inflate it. Estimates within a training budget:
compare runs measured with the same settings.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import base
from dim_tf.evaluators.base import Need, Result
from dim_tf.objective import estimators
from dim_tf.training import optimizers

_HOLDOUT = 0.2
_MINE_UNITS = 64
_NDM_UNITS = (1000, 200)  # The official NDM discriminator.
_NDM_SHUFFLES = 8  # Shuffled copies per held-out sample, to steady the estimate.


def mine_estimate(
    x,
    y,
    steps=500,
    seed=0,
    batch_size=128,
    learning_rate=1e-3,
    units=_MINE_UNITS,
    held_out=None,
):
    """MINE's Donsker-Varadhan estimate of I(X; Y) from paired samples.

    Args:
      x: `[N, Dx]` floats (e.g. flattened images).
      y: `[N, Dy]` floats; row i of `x` and `y` come from the same sample.
      steps: Adam steps of the statistics network.
      seed: seeds initialisation, the hold-out split and batches.
      batch_size: pairs per step (every row scored against every column).
      learning_rate: Adam learning rate.
      units: hidden width of the statistics network.
      held_out: optional `(x', y')` to measure on (else 20% of `x`, `y`).

    Returns:
      Float, nats: the DV bound on the held-out samples (near 0 for
      independent X and Y).

    Raises:
      UserError: shapes that are not `[N, D]` with the same N >= 10, or
        non-finite values.
    """
    x, y = _paired(x, y, "x", "y")
    keras.utils.set_random_seed(seed)
    if held_out is not None:
        x_test, y_test = _paired(*held_out, "held-out x", "held-out y")
        x, y, train_rows, test_rows = _join(x, y, x_test, y_test)
    else:
        train_rows, test_rows = _split(len(x), seed)
    x = _standardise(x, train_rows)
    y = _standardise(y, train_rows)
    critic = _PairCritic(units)
    critic.build(x.shape[1], y.shape[1])

    def loss(rows, step=None):
        del step
        scores = critic(tf.gather(x, rows), tf.gather(y, rows))
        return -estimators.mi_bound(scores, "dv")

    _fit(
        loss,
        critic.trainable_variables,
        train_rows,
        steps,
        batch_size,
        seed,
        learning_rate,
    )
    bounds = [-float(loss(rows)) for rows in _chunks(test_rows, batch_size)]
    return float(np.mean(bounds))


def ndm_estimate(
    y, steps=500, seed=0, batch_size=256, learning_rate=1e-4, held_out=None
):
    """Neural dependency measure: DV estimate of the total correlation of Y.

    Args:
      y: `[N, D]` floats, D >= 2.
      steps: Adam steps of the discriminator.
      seed: seeds initialisation, the hold-out split, batches and shuffles.
      batch_size: real (and shuffled) samples per step.
      learning_rate: Adam learning rate (the official code's 1e-4).
      held_out: optional `[N', D]` samples to measure on (else 20% of `y`).

    Returns:
      Float, nats: `E_P[T] - log E_Q[exp T]` on the held-out samples, P the
      joint of Y's dimensions, Q the product of their marginals.

    Raises:
      UserError: a shape that is not `[N, D]` with N >= 10 and D >= 2, or
        non-finite values.
    """
    y = _as_matrix(y, "y")
    if y.shape[1] < 2:
        raise UserError(f"NDM needs at least 2 dimensions, got y of shape {y.shape}")
    keras.utils.set_random_seed(seed)
    if held_out is not None:
        y_test = _as_matrix(held_out, "held-out y")
        y, _, train_rows, test_rows = _join(y, y, y_test, y_test)
    else:
        train_rows, test_rows = _split(len(y), seed)
    y = _standardise(y, train_rows)
    discriminator = keras.Sequential(
        [keras.Input((y.shape[1],))]
        + [keras.layers.Dense(units, activation="relu") for units in _NDM_UNITS]
        + [keras.layers.Dense(1)]
    )

    def loss(rows, step):
        real = tf.gather(y, rows)
        shuffled = shuffle_dimensions(real, tf.stack([tf.constant(seed + 1), step]))
        positive = discriminator(real)[:, 0]
        negative = discriminator(shuffled)[:, 0]
        return -dv_bound(positive, negative)

    _fit(
        loss,
        discriminator.trainable_variables,
        train_rows,
        steps,
        batch_size,
        seed,
        learning_rate,
    )
    real = tf.gather(y, test_rows)
    shuffled = tf.concat(
        [
            shuffle_dimensions(real, tf.constant([seed + 2, k], tf.int32))
            for k in range(_NDM_SHUFFLES)
        ],
        axis=0,
    )
    bound = dv_bound(discriminator(real)[:, 0], discriminator(shuffled)[:, 0])
    return float(bound)


class Evaluator(base.Evaluator):
    """MINE and NDM (with and without a sigmoid) on the first `eval.mi.examples` of Y.

    Fitted on the eval train split, measured on the eval split; scalars and
    results.json keys `mi/mine` (`mine`), `ndm`, `ndm_sigmoid` (nats).
    """

    needs_labels = False

    def __init__(self, name, eval_config, taps=(), source="trained"):
        super().__init__(name, eval_config, ("y",), source)
        self.num_results = 3  # MINE, NDM, NDM with sigmoid.
        count = eval_config.mi.examples
        self.needs = (Need(source, ("y",), count, count),)

    def run(self, step):
        """Yields the three `Result`s."""
        train, test = step.features.get(self.source)
        eval_config = self.eval_config

        def x_and_y(features):
            count = min(len(features.images), eval_config.mi.examples)
            return (
                features.images[:count].reshape(count, -1),
                features.taps["y"][:count],
            )

        (x, y), (x_test, y_test) = x_and_y(train), x_and_y(test)
        seed, ndm_steps = eval_config.seed, eval_config.mi.ndm_steps
        mine = mine_estimate(
            x, y, eval_config.mi.mine_steps, seed, held_out=(x_test, y_test)
        )
        yield Result("mi/mine", mine, "", {"mine": mine})
        ndm = ndm_estimate(y, ndm_steps, seed, held_out=y_test)
        yield Result("ndm", ndm, "", {"ndm": ndm})
        ndm_sigmoid = ndm_estimate(
            _sigmoid(y), ndm_steps, seed, held_out=_sigmoid(y_test)
        )
        yield Result("ndm_sigmoid", ndm_sigmoid, "", {"ndm_sigmoid": ndm_sigmoid})


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def dv_bound(positive, negative):
    """Donsker-Varadhan bound `mean(positive) - log mean(exp(negative))`.

    Args:
      positive: `[P]` scores of samples of P.
      negative: `[Q]` scores of samples of Q.

    Returns:
      Scalar float32, nats (logsumexp keeps the exponential in range).
    """
    positive = tf.cast(positive, tf.float32)
    negative = tf.cast(negative, tf.float32)
    count = tf.cast(tf.size(negative), tf.float32)
    return tf.reduce_mean(positive) - (
        tf.reduce_logsumexp(negative) - tf.math.log(count)
    )


def shuffle_dimensions(y, seed):
    """Permutes each column of `y [N, D]` independently (stateless, seeded).

    Args:
      y: `[N, D]` float tensor.
      seed: int32 `[2]` seed.

    Returns:
      `[N, D]` tensor.
    """
    keys = tf.random.stateless_uniform(tf.shape(y), seed)
    # Sorted along rows of the transposed keys: transposed int32 indices
    # make oneDNN log an error line.
    order = tf.argsort(tf.transpose(keys), axis=1)
    columns = tf.gather(tf.transpose(y), order, batch_dims=1)
    return tf.transpose(columns)


class _PairCritic(keras.layers.Layer):
    """T(x_j, y_i) for every pair: `x [N, Dx]`, `y [N, Dy]` -> scores `[N, N, 1]`.

    `scores[i, j, 0]` scores Y_i with X_j, the convention of
    `dim_tf.objective.estimators` (i == j are the joint's samples).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.x_in = keras.layers.Dense(units, use_bias=False)
        self.y_in = keras.layers.Dense(units)
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.score = keras.layers.Dense(1)

    def build(self, x_dim, y_dim):
        self.x_in.build((None, x_dim))
        self.y_in.build((None, y_dim))
        self.hidden.build((None, self.x_in.units))
        self.score.build((None, self.x_in.units))
        self.built = True

    def call(self, x, y):
        # relu(x_j W_x + y_i W_y + b) for all (i, j) by broadcasting.
        h = tf.nn.relu(self.y_in(y)[:, None, :] + self.x_in(x)[None, :, :])
        return self.score(self.hidden(h))  # [N, N, 1]


def _fit(loss_fn, variables, rows, steps, batch_size, seed, learning_rate):
    """Minimises `loss_fn(batch_rows, step)` with Adam for `steps` steps, in one graph."""
    if steps < 1:
        raise UserError(f"steps must be >= 1, got {steps}")
    optimizer = optimizers.FusedAdam(learning_rate)  # Keras's Adam, fused.
    optimizer.build(variables)
    rows = tf.constant(rows, tf.int32)
    batch = min(batch_size, int(rows.shape[0]))

    @tf.function
    def run():
        for step in tf.range(steps):
            keys = tf.random.stateless_uniform(
                tf.shape(rows), tf.stack([tf.constant(seed, tf.int32), step])
            )
            batch_rows = tf.gather(rows, tf.argsort(keys)[:batch])
            with tf.GradientTape() as tape:
                loss = loss_fn(batch_rows, step)
            optimizer.apply(tape.gradient(loss, variables), variables)

    run()


def _as_matrix(values, name):
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] < 10 or array.shape[1] < 1:
        raise UserError(
            f"{name} must be a [N, D] array with N >= 10 samples, got shape "
            f"{array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise UserError(f"{name} has non-finite values")
    return array


def _paired(x, y, x_name, y_name):
    x, y = _as_matrix(x, x_name), _as_matrix(y, y_name)
    if len(x) != len(y):
        raise UserError(
            f"{x_name} and {y_name} must have the same number of rows, got "
            f"{len(x)} and {len(y)}"
        )
    return x, y


def _join(x, y, x_test, y_test):
    """Training and held-out samples stacked, with the row indices of each."""
    if x_test.shape[1:] != x.shape[1:] or y_test.shape[1:] != y.shape[1:]:
        raise UserError(
            f"held-out samples have {x_test.shape[1:]} and {y_test.shape[1:]} "
            f"dimensions, the training ones {x.shape[1:]} and {y.shape[1:]}"
        )
    n, m = len(x), len(x_test)
    return (
        np.concatenate([x, x_test]),
        np.concatenate([y, y_test]),
        np.arange(n),
        np.arange(n, n + m),
    )


def _split(n, seed):
    """Sorted (train, held-out) row indices, about 80% / 20%."""
    order = np.random.default_rng(seed).permutation(n)
    held_out = max(2, int(math.ceil(n * _HOLDOUT)))
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def _standardise(values, rows):
    """Zero mean, unit variance per column, with statistics from `rows`."""
    mean = values[rows].mean(axis=0)
    std = values[rows].std(axis=0)
    # A constant column carries no information; keep it at 0 instead of 0/0.
    std = np.where(std > 1e-6, std, 1.0)
    return tf.constant((values - mean) / std, tf.float32)


def _chunks(rows, size):
    """Consecutive chunks of `rows` of `size` (the last one merged if tiny)."""
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    if len(chunks) > 1 and len(chunks[-1]) < size // 2:
        chunks[-2] = np.concatenate([chunks[-2], chunks.pop()])
    return [tf.constant(chunk, tf.int32) for chunk in chunks]
