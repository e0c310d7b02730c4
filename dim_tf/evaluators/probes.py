"""Classifiers that measure a representation: linear, MLP and fine-tuned probes.

The paper's protocol (docs/protocol.md): a classifier on the features of one encoder
tap (`conv`, `fc` or `y`, flattened), trained on a labeled split with the
encoder frozen, measured on another split. Kinds:

- `linear`: one Dense layer;
- `mlp`: the paper's classifier, Dense 200 -> Dropout 0.1 -> BatchNorm ->
  ReLU -> Dense (the official code's order);
- `finetune`: the `mlp` head on a copy of the encoder that is trained with it
  (the paper's "SS" column).

Every head starts with a `keras.layers.Normalization` set to the mean and
(floored) variance of the training features. It is affine, so a linear probe
stays linear, and it lets one Adam learning rate suit taps whose scales differ
by orders of magnitude.

Frozen probes train on features computed once
(`dim_tf.evaluators.features`) and held in one tensor, all epochs in one
graph call (`fit_features`), so an epoch costs a pass over a matrix, not
over the encoder. On a large training set the `mlp` probes take
`eval.batch_scale` times larger batches with Adam scaled by the square-root
rule (`scaled_adam`): about the same training in fewer, cheaper steps; with
`eval.mlp_precision` bfloat16 (or `auto` on a CPU with bfloat16 units) their
hidden layer's matrix products, the bulk of their cost on `conv`, train in
bfloat16 (`_trained_layers`; the head stays float32). The
probes of one evaluator train side by side (`train_frozen_probes`). The
evaluators that yield their rows are `frozen_probes` and `finetune`.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import precision, row_chunks
from dim_tf.evaluators.features import compiled
from dim_tf.training import optimizers

_HIDDEN = 200
_DROPOUT = 0.1
_BN_MOMENTUM = 0.9
# Floor of a feature's variance in the input normalisation, relative to the
# mean variance of all features.
_VARIANCE_FLOOR = 1e-2
# Keras's Adam defaults: the frozen probes' optimiser at the unscaled batch.
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7
# Frozen probes batch up to `eval.batch_scale` times larger only while an
# epoch keeps this many steps (the scaling rule needs many small steps).
MIN_STEPS_PER_EPOCH = 100
# Frozen probes trained side by side (`train_frozen_probes`): enough to keep
# two cores busy with probes whose steps are mostly overhead, few enough
# that the normalised copies of their features stay a small multiple.
MAX_CONCURRENT_PROBES = 4
# `eval.mlp_precision=auto` rounds only features this wide to bfloat16:
# there the hidden layer's products are most of a step (`conv`'s 6,272
# dims: 40 s -> 25 s of training); on narrow taps the step is cheap anyway
# and is left exact.
AUTO_BFLOAT16_MIN_DIM = 4096


def build_head(kind, train_features, num_classes):
    """A probe head for features like `train_features`, returning logits.

    Args:
      kind: "linear" or "mlp" (a fine-tuned probe uses the "mlp" head).
      train_features: float32 `[N, D]`; sets the `Normalization` layer.
      num_classes: K.

    Returns:
      `keras.Model`: `[B, D]` float32 -> logits `[B, K]` float32.
    """
    dim = train_features.shape[1]
    inputs = keras.Input((dim,), name="features")
    # In TensorFlow (every core; NumPy's var uses one), chunk by chunk.
    mean, variance = (
        np.asarray(moment)
        for moment in row_chunks.column_moments(
            tf.convert_to_tensor(train_features, tf.float32)
        )
    )
    # A feature that is (nearly) constant on the training split would be
    # scaled by up to 1/epsilon; once fine-tuning moves it, the head blows up.
    normalize = keras.layers.Normalization(
        mean=mean,
        variance=np.maximum(variance, _VARIANCE_FLOOR * variance.mean() + 1e-12),
        name="normalize",
    )
    x = normalize(inputs)
    if kind == "mlp":
        x = keras.layers.Dense(_HIDDEN, name="hidden")(x)
        x = keras.layers.Dropout(_DROPOUT, name="dropout")(x)
        x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name="bn")(x)
        x = keras.layers.ReLU(name="relu")(x)
    elif kind != "linear":
        raise UserError(f"unknown probe head {kind!r}; choose linear or mlp")
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{kind}_head")


def _cross_entropy_step(model, optimizer):
    """`step(inputs, labels) -> loss`: one Adam step on softmax cross-entropy."""
    variables = model.trainable_variables
    optimizer.build(variables)

    def step(inputs, labels):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(inputs, training=True), tf.float32)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            )
        gradients = tape.gradient(loss, variables)
        # Layers past the tap (e.g. `y` under a `conv` probe) get no
        # gradient and stay as they are.
        used = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        optimizer.apply([g for g, _ in used], [v for _, v in used])
        return loss

    return step


def fit(model, dataset, learning_rate):
    """Minimises softmax cross-entropy of `model` over every batch of `dataset`.

    The whole pass (all epochs, if `dataset` repeats) runs in one graph call.

    Args:
      model: maps inputs to logits `[b, K]`; called with `training=True`.
      dataset: batches `(inputs, labels [b] int32)`.
      learning_rate: Adam's learning rate.

    Returns:
      Scalar float32: the loss of the last batch.
    """
    step = _cross_entropy_step(model, optimizers.FusedAdam(learning_rate))

    def train(batches):
        loss = tf.constant(0.0)
        for inputs, labels in batches:
            loss = step(inputs, labels)
        return loss

    return compiled(train, dataset)(dataset)


def scaled_adam(learning_rate, scale):
    """Adam for batches `scale` times larger than `learning_rate` was set for.

    The square-root scaling rule for adaptive optimisers (Malladi et al.,
    "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms",
    NeurIPS 2022): learning rate x sqrt(scale), 1 - beta_1 and 1 - beta_2 x
    scale, epsilon / sqrt(scale) follow about the same training trajectory
    in `scale` times fewer steps. Keras's Adam defaults are the unscaled
    values (beta_1 0.9, beta_2 0.999, epsilon 1e-7). The updates are Keras's
    Adam's, one fused kernel per variable (`FusedAdam`).

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
    """How many times `eval.batch_size` a frozen probe on `count` examples batches.

    Up to `eval.batch_scale`, as long as an epoch keeps at least
    `MIN_STEPS_PER_EPOCH` steps: a small training set (or a few-label one)
    trains unscaled, exactly as set.

    Returns:
      float >= 1.
    """
    steps_at_batch = count / (eval_config.batch_size * MIN_STEPS_PER_EPOCH)
    return max(1.0, min(float(eval_config.batch_scale), steps_at_batch))


# The last few orders are kept: the probes of an evaluation share them
# (every tap's probe, linear and mlp, the trained and the random encoder's
# on the same set), and 20 orders of 50,000 examples take about a second.
@functools.lru_cache(maxsize=8)
def epoch_orders(count, epochs, seed):
    """The order of the examples in each epoch: int32 `[epochs, count]`.

    The orders of a `tf.data` pipeline that shuffles the examples with `seed`
    (reshuffling every epoch) and repeats them, generated by that same
    pipeline over the example indices, so that a probe sees the batches it
    saw when it was fed by such a pipeline. The same arguments give the same
    (immutable) tensor, made once.
    """
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

    Each epoch visits every example once, in a seeded random order
    (`epoch_orders`), in batches of `batch_size` (the last one smaller):
    what a shuffled, batched, repeated `tf.data` pipeline feeds, without its
    per-example work (the rows of each batch are gathered from one tensor).

    Args:
      model: maps features `[b, D]` to logits `[b, K]`; called with
        `training=True`.
      features: float32 `[N, D]`.
      labels: int32 `[N]`.
      batch_size: examples per step.
      epochs: passes over the examples.
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
    model, features_shape, labels, batch_size, epochs, optimizer, seed, dtype="float32"
):
    """`fit_features` traced now, run later: a callable `features -> last loss`.

    Tracing builds Keras's graph of `model` and the optimizer's variables, so
    it happens in the calling thread; the returned callable only runs the
    traced graph, which may then happen in another thread. `dtype` is the
    features' (float32, or bfloat16 for `_trained_layers`' copies).
    """
    step = _cross_entropy_step(model, optimizer)
    count = len(labels)
    steps_per_epoch = -(-count // batch_size)

    def train(features, labels, orders):
        loss = tf.constant(0.0)
        for order in orders:
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

    `eval.epochs` passes of Adam at `eval.learning_rate` for batches of
    `eval.batch_size`; on a large training set an `mlp` head's batches are
    `batch_scale` times larger, with Adam scaled to match (`scaled_adam`).

    Args:
      kind: "linear" or "mlp".
      train: `(features [N, D] float32, labels [N] int32)`.
      num_classes: K.
      eval_config: the `config.eval` section (epochs, batch_size,
        batch_scale, learning_rate, mlp_precision).
      seed: seeds the head's initialisation, dropout and shuffling.

    Returns:
      The trained head (see `build_head`).
    """
    (head,) = train_frozen_probes(kind, [(train, eval_config)], num_classes, seed)
    return head


def train_frozen_probes(kind, jobs, num_classes, seed, workers=MAX_CONCURRENT_PROBES):
    """Trains one `linear` or `mlp` head per job, up to `workers` at a time.

    Each head is what `train_frozen_probe` gives for its job, weight for
    weight: the heads are built (initialised, traced) one after another in
    this thread with the same seeding, and only the traced training graphs
    run concurrently. A small probe's step is mostly per-operation overhead
    on one core; several run side by side use the CPU's other cores.

    Args:
      kind: "linear" or "mlp".
      jobs: list of `(train, eval_config)`, as `train_frozen_probe`'s
        arguments (e.g. one tap each, or one label subset each).
      num_classes: K.
      seed: seeds each head's initialisation, dropout and shuffling.
      workers: how many train at once.

    Yields:
      The trained heads, in the order of `jobs`, each as soon as it and
      the ones before it are trained.
    """
    with ThreadPoolExecutor(max(1, min(workers, len(jobs)))) as pool:
        # Each job starts training as soon as it is prepared: the next one
        # is built and traced here meanwhile.
        running = []
        for train, eval_config in jobs:
            head, fit = _prepare_frozen_probe(
                kind, train, num_classes, eval_config, seed
            )
            running.append((head, pool.submit(fit)))
        for head, future in running:
            future.result()
            yield head


def _prepare_frozen_probe(kind, train, num_classes, eval_config, seed):
    """`(head, fit)`: the initialised head and a callable that trains it in place."""
    features, labels = train
    # One float32 tensor: the moments, the normalisation and the training
    # read it without further copies of the (possibly GB-sized) features.
    features = tf.convert_to_tensor(features, tf.float32)
    keras.utils.set_random_seed(seed)
    head = build_head(kind, features, num_classes)
    # Only `mlp` heads batch larger: a linear probe's step is cheap, the
    # scaled steps measured 0.7 points lower on `y` of a 50,000-image set,
    # and side by side (`train_frozen_probes`) the unscaled ones take about
    # as long.
    scale = batch_scale(eval_config, len(labels)) if kind == "mlp" else 1.0
    dtype = mlp_dtype(eval_config, features.shape[1]) if kind == "mlp" else "float32"
    # The input normalisation is fixed: applied once to every example
    # (inside `fit`) instead of to every batch of every epoch (the same
    # arithmetic), the layers after it train on the normalised features.
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
    )

    def fit():
        train_normalized(
            row_chunks.map_rows(lambda rows: tf.cast(normalize(rows), dtype), features)
        )
        copy_back()

    return head, fit


def mlp_dtype(eval_config, dim):
    """What an `mlp` probe on `dim` features trains its hidden layer in.

    `eval.mlp_precision` float32 or bfloat16 as set; `auto` bfloat16 only
    where this CPU computes it faster (`dim_tf.evaluators.precision`) and
    the features have at least `AUTO_BFLOAT16_MIN_DIM` dimensions.

    Returns:
      "float32" or "bfloat16".
    """
    if eval_config.mlp_precision == "auto" and dim < AUTO_BFLOAT16_MIN_DIM:
        return "float32"
    return precision.compute_dtype(eval_config.mlp_precision)


def _trained_layers(head, dtype):
    """The layers of `head` after its normalisation, as the model that trains them.

    float32: a model of those very layers. bfloat16 (an `mlp` head): a copy
    of them, with the head's initial weights, whose hidden layer takes
    bfloat16 inputs and computes its matrix products in bfloat16 (Keras's
    `mixed_bfloat16`: float32 weights, Adam, batch norm and loss); the
    head itself stays float32, so what is saved and exported computes in
    float32 everywhere.

    Returns:
      `(model, copy_back)`: the model to train (normalised features `[B, D]`
      of `dtype` -> logits) and a callable that sets the head's weights to
      the trained ones (nothing to do for float32).
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


def classify_fn(model, input_shape):
    """Graph function: inputs `[B, *input_shape]` float32 -> class ids `[B]` int32."""
    return compiled(
        lambda x: tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32),
        tf.TensorSpec([None, *input_shape], tf.float32),
    )


def predict(model, inputs, batch_size=1024):
    """Class ids `[N]` (int32) of `model` in inference mode on `inputs [N, ...]`."""
    inputs = np.asarray(inputs, np.float32)
    classify = classify_fn(model, inputs.shape[1:])
    return np.concatenate(
        [
            classify(tf.constant(inputs[i : i + batch_size])).numpy()
            for i in range(0, len(inputs), batch_size)
        ]
    )


def accuracy(head, features, labels):
    """Top-1 accuracy of `head` (inference mode) on `features [N, D]`, `labels [N]`."""
    return float(np.mean(predict(head, features) == labels))


def finetune_classifier(encoder, tap, head):
    """`encoder` and `head` as one model: images `[B, S, S, C]` -> logits `[B, K]`."""
    images = keras.Input(encoder.input_shape[1:], name="images")
    features = keras.layers.Flatten(name="flatten")(encoder(images)[tap])
    return keras.Model(images, head(features), name=f"finetune_{tap}")


def train_finetune_probe(
    encoder, tap, train_features, train_images, num_classes, eval_config, seed
):
    """The paper's "SS" probe: the `mlp` head trained together with `encoder`.

    Args:
      encoder: a copy of the encoder to fine-tune (its weights change).
      tap: which encoder output feeds the head.
      train_features: float32 `[N, D]` frozen features of the tap, for the
        head's `Normalization` layer.
      train_images: dataset of single examples `(image [S, S, C], label)`;
        shuffled and batched here.
      num_classes: K.
      eval_config: the `config.eval` section (batch_size, finetune_epochs,
        finetune_learning_rate).
      seed: seeds the head's initialisation, dropout and shuffling.

    Returns:
      The trained classifier (`finetune_classifier`): images -> logits.
    """
    keras.utils.set_random_seed(seed)
    head = build_head("mlp", train_features, num_classes)
    classifier = finetune_classifier(encoder, tap, head)
    batches = (
        train_images.shuffle(
            min(len(train_features), 10_000), seed=seed, reshuffle_each_iteration=True
        )
        # Full batches only: BatchNorm in training mode on a tiny last batch
        # would take noisy statistics.
        .batch(min(eval_config.batch_size, len(train_features)), drop_remainder=True)
        .repeat(eval_config.finetune_epochs)
        .prefetch(tf.data.AUTOTUNE)
    )
    fit(classifier, batches, eval_config.finetune_learning_rate)
    return classifier


def dataset_accuracy(classifier, dataset):
    """Top-1 accuracy of an image classifier (inference mode) on `(images, labels)` batches."""
    classify = classify_fn(classifier, dataset.element_spec[0].shape[1:])
    correct = total = 0
    for images, labels in dataset:
        predicted = classify(images).numpy()
        correct += int(np.sum(predicted == labels.numpy()))
        total += len(predicted)
    return correct / max(total, 1)
