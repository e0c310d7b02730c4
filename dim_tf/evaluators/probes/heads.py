"""Probe heads (linear; the paper's mlp, in the official code's order), fine-tuning.

Every head starts with a `Normalization` fitted to the training features:
affine, so a linear probe stays linear, and one learning rate suits taps of
any scale (docs/protocol.md).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import cpu, pooling
from dim_tf.evaluators.features import compiled
from dim_tf.training import optimizers

_HIDDEN = 200
_DROPOUT = 0.1
_BN_MOMENTUM = 0.9
# Floor of a feature's variance, relative to the mean variance of all features.
_VARIANCE_FLOOR = 1e-2
# Fine-tuning batches hold at most this many input pixels (eval.batch_size's
# 256 up to 64x64 images): the encoder's activations bound the memory.
MAX_FINETUNE_BATCH_PIXELS = 2**20


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
        for moment in cpu.column_moments(np.asarray(train_features, np.float32))
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


def cross_entropy_step(model, optimizer):
    """`step(inputs, labels) -> loss`: one `optimizer` step on softmax cross-entropy."""
    variables = model.trainable_variables
    optimizer.build(variables)

    def step(inputs, labels):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(inputs, training=True), tf.float32)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            )
        gradients = tape.gradient(loss, variables)
        # Layers past the tap get no gradient.
        used = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        optimizer.apply([g for g, _ in used], [v for _, v in used])
        return loss

    return step


def fit(model, dataset, learning_rate):
    """Minimises softmax cross-entropy of `model` over `dataset`, in one graph call.

    Args:
      model: inputs -> logits `[b, K]`.
      dataset: batches `(inputs, labels [b] int32)`.
      learning_rate: Adam's learning rate.

    Returns:
      Scalar float32: the loss of the last batch.
    """
    step = cross_entropy_step(model, optimizers.FusedAdam(learning_rate))

    def train(batches):
        loss = tf.constant(0.0)
        for inputs, labels in batches:
            loss = step(inputs, labels)
        return loss

    return compiled(train, dataset)(dataset)


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
    """`encoder` and `head` as one model: images `[B, S, S, C]` -> logits `[B, K]`.

    A map tap wider than the head's input is pooled to the grid the head's
    features were pooled to (`features.extract_features`).
    """
    images = keras.Input(encoder.input_shape[1:], name="images")
    features = encoder(images)[tap]
    shape, width = tuple(features.shape[1:]), head.input_shape[-1]
    if len(shape) == 3 and math.prod(shape) != width:
        side = math.isqrt(width // shape[-1])
        features = pooling.MapPooling(side, name="pool")(features)
    features = keras.layers.Flatten(name="flatten")(features)
    return keras.Model(images, head(features), name=f"finetune_{tap}")


def train_finetune_probe(
    encoder, tap, train_features, train_images, num_classes, eval_config, seed
):
    """The paper's "SS" probe: the `mlp` head trained together with `encoder`.

    Args:
      encoder: a copy of the encoder to fine-tune (its weights change).
      tap: which encoder output feeds the head.
      train_features: float32 `[N, D]` frozen features (the normalisation's).
      train_images: dataset of single examples `(image [S, S, C], label)`.
      num_classes: K.
      eval_config: the `config.eval` section.
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
        .batch(
            finetune_batch(eval_config.batch_size, len(train_features), train_images),
            drop_remainder=True,
        )
        .repeat(eval_config.finetune.epochs)
        .prefetch(tf.data.AUTOTUNE)
    )
    fit(classifier, batches, eval_config.finetune.learning_rate)
    return classifier


def finetune_batch(batch_size, count, train_images):
    """Examples per fine-tuning step: `batch_size`, fewer for `count` or large images.

    Args:
      batch_size: `eval.batch_size`.
      count: training examples.
      train_images: dataset of single examples `(image [S, S, C], label)`.
    """
    height, width = train_images.element_spec[0].shape[:2]
    pixels = max(1, MAX_FINETUNE_BATCH_PIXELS // (height * width))
    return max(1, min(batch_size, count, pixels))


def dataset_accuracy(classifier, dataset):
    """Top-1 accuracy of an image classifier (inference mode) on `(images, labels)` batches."""
    classify = classify_fn(classifier, dataset.element_spec[0].shape[1:])
    correct = total = 0
    for images, labels in dataset:
        predicted = classify(images).numpy()
        correct += int(np.sum(predicted == labels.numpy()))
        total += len(predicted)
    return correct / max(total, 1)
