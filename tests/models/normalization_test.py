"""dim_tf.models.normalization layers give Keras's results and gradients, faster."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.models import normalization

SHAPES = [(6, 3, 3, 5), (7, 5)]


def _pair(ours_cls, keras_cls, shape, dtype="float32", **kwargs):
    ours = ours_cls(dtype=dtype, **kwargs)
    reference = keras_cls(dtype=dtype, **kwargs)
    ours.build(shape)
    reference.build(shape)
    rng = np.random.default_rng(0)
    # Non-trivial scale, offset and moving statistics.
    for variable in ours.weights:
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    reference.set_weights(ours.get_weights())
    return ours, reference


def _outputs_and_gradients(layer, x, upstream, **call_kwargs):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, **call_kwargs)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return y, grads


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_keras(shape, training):
    ours, reference = _pair(
        normalization.BatchNormalization,
        keras.layers.BatchNormalization,
        shape,
        momentum=0.9,
        epsilon=1e-5,
    )
    x = tf.random.stateless_normal(shape, (1, 2)) * 3.0 + 1.0
    upstream = tf.random.stateless_normal(shape, (3, 4))
    moving_mean_before = ours.moving_mean.numpy()
    y, grads = _outputs_and_gradients(ours, x, upstream, training=training)
    y_ref, grads_ref = _outputs_and_gradients(reference, x, upstream, training=training)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)
    for w, w_ref in zip(ours.non_trainable_weights, reference.non_trainable_weights):
        np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-6)
    assert np.allclose(ours.moving_mean, moving_mean_before) != training


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_norm_matches_keras(shape):
    ours, reference = _pair(
        normalization.LayerNormalization,
        keras.layers.LayerNormalization,
        shape,
        epsilon=1e-5,
    )
    x = tf.random.stateless_normal(shape, (5, 6)) * 3.0 + 1.0
    upstream = tf.random.stateless_normal(shape, (7, 8))
    y, grads = _outputs_and_gradients(ours, x, upstream)
    y_ref, grads_ref = _outputs_and_gradients(reference, x, upstream)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "cls,keras_cls,kwargs",
    [
        (normalization.BatchNormalization, keras.layers.BatchNormalization, {}),
        (normalization.LayerNormalization, keras.layers.LayerNormalization, {}),
    ],
)
def test_mixed_bfloat16_gives_bfloat16_close_to_keras(cls, keras_cls, kwargs):
    shape = (4, 2, 2, 8)
    ours, reference = _pair(cls, keras_cls, shape, dtype="mixed_bfloat16")
    x = tf.cast(tf.random.stateless_normal(shape, (9, 10)), tf.bfloat16)
    call = {"training": True} if cls is normalization.BatchNormalization else {}
    y, y_ref = ours(x, **call), reference(x, **call)
    assert y.dtype == tf.bfloat16
    np.testing.assert_allclose(
        tf.cast(y, tf.float32), tf.cast(y_ref, tf.float32), rtol=2e-2, atol=2e-2
    )


def test_synchronised_batch_norm_falls_back_to_keras():
    ours, reference = _pair(
        normalization.BatchNormalization,
        keras.layers.BatchNormalization,
        (4, 3),
        synchronized=True,
    )
    x = tf.random.stateless_normal((4, 3), (11, 12))
    np.testing.assert_allclose(
        ours(x, training=True), reference(x, training=True), rtol=1e-6
    )
