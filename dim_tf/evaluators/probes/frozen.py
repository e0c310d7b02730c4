"""Evaluators `linear`, `mlp`: probe heads trained on frozen features in memory.

All epochs run in one graph call over one feature tensor (`fit_features`),
side by side in a `ProbePool`; large `mlp` probes batch larger with
square-root-scaled Adam and may compute their hidden layer in bfloat16.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from dim_tf.evaluators import base, cpu
from dim_tf.evaluators.base import Result
from dim_tf.evaluators.features import compiled
from dim_tf.evaluators.probes import heads
from dim_tf.evaluators.probes.heads import build_head, cross_entropy_step
from dim_tf.training import optimizers

# Keras's Adam defaults: the frozen probes' optimiser at the unscaled batch.
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7
# Larger batches only while an epoch keeps this many steps.
MIN_STEPS_PER_EPOCH = 100
# Probes trained at once: keeps the cores busy, bounds the features' copies.
MAX_CONCURRENT_PROBES = 4
# `eval.mlp.precision=auto` rounds only features this wide (docs/benchmarks.md).
AUTO_BFLOAT16_MIN_DIM = 4096


def scaled_adam(learning_rate, scale):
    """Adam for batches `scale` times larger, by the square-root scaling rule.

    Malladi et al., "On the SDEs and Scaling Rules for Adaptive Gradient
    Algorithms", NeurIPS 2022: learning rate x sqrt(scale), 1 - beta_1 and
    1 - beta_2 x scale, epsilon / sqrt(scale).

    Args:
      learning_rate: Adam's learning rate at the unscaled batch.
      scale: >= 1, below 10 (beta_1 stays positive).
    """
    return optimizers.FusedAdam(
        learning_rate * scale**0.5,
        beta_1=1 - (1 - _BETA_1) * scale,
        beta_2=1 - (1 - _BETA_2) * scale,
        epsilon=_EPSILON / scale**0.5,
    )


def batch_scale(eval_config, count):
    """Batch size multiple (float >= 1, at most `eval.mlp.batch_scale`) for `count` examples."""
    steps_at_batch = count / (eval_config.batch_size * MIN_STEPS_PER_EPOCH)
    return max(1.0, min(float(eval_config.mlp.batch_scale), steps_at_batch))


# Cached: every probe of an evaluation on the same set shares its orders.
@functools.lru_cache(maxsize=8)
def epoch_orders(count, epochs, seed):
    """int32 `[epochs, count]`: each epoch's order, as a seeded `tf.data` shuffle gives."""
    orders = (
        tf.data.Dataset.range(count)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .batch(count)
        .repeat(epochs)
        .batch(epochs)
    )
    return tf.cast(orders.get_single_element(), tf.int32)


def fit_features(model, features, labels, batch_size, epochs, optimizer, seed):
    """Minimises softmax cross-entropy of `model` on in-memory features, in one graph call.

    Args:
      model: features `[b, D]` -> logits `[b, K]`.
      features, labels: float32 `[N, D]`, int32 `[N]`.
      batch_size, epochs: examples per step, passes over the examples.
      optimizer: a Keras optimizer (e.g. `scaled_adam`).
      seed: seeds the order of each epoch.

    Returns:
      Scalar float32: the loss of the last batch.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    return _features_fit(
        model, features.shape, labels, batch_size, epochs, optimizer, seed
    )(features)


def _features_fit(
    model,
    features_shape,
    labels,
    batch_size,
    epochs,
    optimizer,
    seed,
    dtype="float32",
    stop=None,
):
    """`fit_features` traced here, run later (in any thread): `features -> last loss`.

    `dtype`: the features'. `stop`: a boolean `tf.Variable`; once True the
    epochs left are skipped.
    """
    step = cross_entropy_step(model, optimizer)
    count = len(labels)
    steps_per_epoch = -(-count // batch_size)

    stop = tf.constant(False) if stop is None else stop

    def train(features, labels, orders):
        loss = tf.constant(0.0)
        for order in orders:
            if not stop:
                for i in tf.range(steps_per_epoch):
                    rows = order[i * batch_size : (i + 1) * batch_size]
                    loss = step(tf.gather(features, rows), tf.gather(labels, rows))
        return loss

    labels = tf.convert_to_tensor(labels, tf.int32)
    orders = epoch_orders(count, epochs, seed)
    traced = compiled(
        train,
        tf.TensorSpec(features_shape, dtype),
        tf.TensorSpec(labels.shape, tf.int32),
        tf.TensorSpec(orders.shape, tf.int32),
    )
    return lambda features: traced(features, labels, orders)


def train_frozen_probe(kind, train, num_classes, eval_config, seed):
    """Trains a `linear` or `mlp` head on cached features.

    Args:
      kind: "linear" or "mlp".
      train: `(features [N, D] float32, labels [N] int32)`.
      num_classes: K.
      eval_config: the `config.eval` section.
      seed: seeds the head's initialisation, dropout and shuffling.

    Returns:
      The trained head (`heads.build_head`).
    """
    (head,) = train_frozen_probes(kind, [(train, eval_config)], num_classes, seed)
    return head


def train_frozen_probes(kind, jobs, num_classes, seed, workers=MAX_CONCURRENT_PROBES):
    """Trains one head per job, up to `workers` at a time, each as `train_frozen_probe` would.

    Args:
      jobs: list of `(train, eval_config)`; the others as `train_frozen_probe`'s.
      workers: how many train at once.

    Yields:
      The trained heads, in the order of `jobs`.
    """
    with ProbePool(max(1, min(workers, len(jobs)))) as pool:
        yield from pool.submit(kind, jobs, num_classes, seed)


class ProbePool:
    """Background threads that train frozen probes, up to `workers` at a time.

    Heads are built and traced in the submitting thread (seeded as when
    alone); only the traced graphs run in the pool. `close()` it when done.
    """

    def __init__(self, workers=MAX_CONCURRENT_PROBES):
        self._workers = workers
        self._executor = None
        self._stop = tf.Variable(False, trainable=False)

    def submit(self, kind, jobs, num_classes, seed):
        """Queues each job's training (arguments as `train_frozen_probes`').

        Returns:
          An iterator over the trained heads in order; each waits for its
          training and raises its error.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers)
            self._stop.assign(False)
        running = []
        for train, eval_config in jobs:
            head, fit = _prepare_frozen_probe(
                kind, train, num_classes, eval_config, seed, self._stop
            )
            running.append((head, self._executor.submit(fit)))
        return _when_trained(running)

    def close(self):
        """Cancels the queued probes; running ones stop after their epoch (part-trained)."""
        if self._executor is not None:
            self._stop.assign(True)
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _when_trained(running):
    """Yields each `(head, future)`'s head once its training is done."""
    for head, future in running:
        future.result()
        yield head


def _prepare_frozen_probe(kind, train, num_classes, eval_config, seed, stop=None):
    """`(head, fit)`: the initialised head and a callable that trains it in place."""
    features, labels = train
    # Not one tensor: that would copy all the features per probe.
    features = np.asarray(features, np.float32)
    keras.utils.set_random_seed(seed)
    head = build_head(kind, features, num_classes)
    # Scaled steps cost linear probes accuracy (docs/benchmarks.md).
    scale = batch_scale(eval_config, len(labels)) if kind == "mlp" else 1.0
    dtype = mlp_dtype(eval_config, features.shape[1]) if kind == "mlp" else "float32"
    # The fixed input normalisation is applied once, not per batch.
    normalize = head.get_layer("normalize")
    trained, copy_back = _trained_layers(head, dtype)
    train_normalized = _features_fit(
        trained,
        features.shape,
        labels,
        round(eval_config.batch_size * scale),
        eval_config.epochs,
        scaled_adam(eval_config.learning_rate, scale),
        seed,
        dtype,
        stop,
    )

    def fit():
        train_normalized(
            cpu.map_rows(lambda rows: tf.cast(normalize(rows), dtype), features)
        )
        copy_back()

    return head, fit


def mlp_dtype(eval_config, dim):
    """The dtype ("float32" or "bfloat16") of an `mlp` probe's hidden layer on `dim` features."""
    if eval_config.mlp.precision == "auto" and dim < AUTO_BFLOAT16_MIN_DIM:
        return "float32"
    return cpu.compute_dtype(eval_config.mlp.precision)


def _trained_layers(head, dtype):
    """The layers of `head` after its normalisation, as the model that trains them.

    bfloat16: a `mixed_bfloat16` copy of them; the head itself stays
    float32, so what is saved and exported computes in float32.

    Returns:
      `(model, copy_back)`: the model (normalised features `[B, D]` of
      `dtype` -> logits) and a callable setting the head's weights to it.
    """
    normalize = head.get_layer("normalize")
    if dtype == "float32":
        return keras.Model(normalize.output, head.output), lambda: None
    layers = head.layers[head.layers.index(normalize) + 1 :]
    copies = []
    x = inputs = keras.Input(normalize.output.shape[1:], dtype=dtype)
    for layer in layers:
        config = layer.get_config()
        if layer.name == "hidden":
            config["dtype"] = f"mixed_{dtype}"
        copy = layer.__class__.from_config(config)
        x = copy(x)
        copy.set_weights(layer.get_weights())
        copies.append(copy)

    def copy_back():
        for layer, copy in zip(layers, copies):
            layer.set_weights(copy.get_weights())

    return keras.Model(inputs, x), copy_back


class Evaluator(base.Evaluator):
    """Evaluators `linear`, `mlp`: one probe per tap, trained in `step.probe_pool`.

    Rows (results.json `probes`, or `random_encoder/probes`): `{"tap",
    "kind", "test_accuracy", "train_accuracy"}`; scalars `probe/{kind}_{tap}`;
    each `Result`'s `model` is the trained head.
    """

    background = True

    def run(self, step):
        yield from self.start(step)

    def start(self, step):
        train, test = step.features.get(self.source)
        trained = step.probe_pool.submit(
            self.name,
            [((train.taps[tap], train.labels), self.eval_config) for tap in self.taps],
            step.num_classes,
            self.eval_config.seed,
        )
        return self._results(trained, train, test)

    def _results(self, trained, train, test):
        for tap, head in zip(self.taps, trained):
            accuracy = heads.accuracy(head, test.taps[tap], test.labels)
            row = {
                "tap": tap,
                "kind": self.name,
                "test_accuracy": accuracy,
                "train_accuracy": heads.accuracy(head, train.taps[tap], train.labels),
            }
            yield Result(
                self.tag(f"probe/{self.name}_{tap}"),
                accuracy,
                self.section("probes"),
                row,
                head,
            )
