"""Mixed precision and XLA (`train.jit_compile`) on `file:` and `keras:` backbones.

Both training paths: the command line's `Trainer` and `DeepInfoMax.fit`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import dim_tf
from dim_tf.models import encoders
from dim_tf.training import build
from tests import strategies
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow  # XLA compiles each step for tens of seconds.

SIZE = 16
IMAGE_SHAPE = (SIZE, SIZE, 1)
COMPUTE = {
    "float32": "float32",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}
# The XLA step against the plain one: (losses, gradients and weights), as a
# fraction of the largest magnitude; rounding differs where XLA fuses operations.
TOLERANCE = {
    "float32": (1e-3, 1e-3),
    "mixed_bfloat16": (3e-2, 0.1),
    "mixed_float16": (1e-2, 0.1),
}
SMALL = {"critic_units": 16, "global_units": 16}


@pytest.fixture(scope="module")
def file_backbone(tmp_path_factory):
    """A saved trunk reading pixels (its first layer rescales), with BatchNorm."""
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    path = str(tmp_path_factory.mktemp("backbone") / "small.keras")
    keras.Model(inputs, x).save(path)
    return f"file:{path}"


def _images(count=8, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, (count, *IMAGE_SHAPE)).astype(np.uint8)


def _assert_policy_inside(encoder, precision):
    """The trunk computes in the policy's dtype; the range conversion in float32."""
    assert encoder.get_layer("input_range").compute_dtype == "float32"
    assert encoder.get_layer("c2").compute_dtype == COMPUTE[precision]
    assert encoder.get_layer("bn1").compute_dtype == COMPUTE[precision]
    assert encoder.get_layer("c2").variable_dtype == "float32"
    out = encoder(tf.zeros((2, *IMAGE_SHAPE)), training=False)
    assert {v.dtype.name for v in out.values()} == {COMPUTE[precision]}


def _trainer(spec, precision):
    """The XLA-compiling Trainer of `spec` under `precision`."""
    config = tiny_config(
        encoder=spec,
        image_size=SIZE,
        **{
            "backbone.local_layer": "c1",
            "train.precision": precision,
            "train.jit_compile": True,
            "objective.occlusion": 0.25,
        },
    )
    return build.build_trainer(config, IMAGE_SHAPE, strategies.one_device())


def _close(got, expected, precision, name):
    """Equal within `TOLERANCE`: losses (of at least 1), else arrays."""
    scalar = np.ndim(expected) == 0
    floor = 1.0 if scalar else 0.0
    scale = max(floor, float(np.max(np.abs(expected))))
    atol = TOLERANCE[precision][0 if scalar else 1] * scale
    np.testing.assert_allclose(got, expected, atol=atol, err_msg=name)


# mixed_bfloat16's trunk is checked through DeepInfoMax below.
@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_the_trainers_xla_step_on_a_file_backbone_equals_its_plain_step(
    file_backbone, precision
):
    run = _trainer(file_backbone, precision)
    _assert_policy_inside(run.encoder, precision)
    images = tf.random.stateless_uniform((8, *IMAGE_SHAPE), (5, 6), -1.0, 1.0)
    step = tf.constant(3, tf.int64)
    plain = tf.function(run.losses_and_gradients)(images, step)
    # The compiled function `train.jit_compile` makes the Trainer run.
    xla = run._losses_and_gradients(images, step)
    assert set(xla[0]) == set(plain[0]) and "prior/discriminator_loss" in xla[0]
    for name, value in xla[0].items():
        assert value.dtype == tf.float32, name
        _close(value.numpy(), plain[0][name].numpy(), precision, name)
    if precision == "float32":
        # Half-precision gradients (loss-scaled under float16) round with the
        # kernels' reduction order, which XLA and the thread count change.
        for got, expected in zip(xla[1] + xla[2], plain[1] + plain[2], strict=True):
            _close(got.numpy(), expected.numpy(), precision, "gradients")
    metrics, bad = run.train_steps(
        iter(tf.data.Dataset.from_tensors(images).repeat()), 2
    )
    assert int(bad) == -1
    assert all(np.isfinite(float(value)) for value in metrics.values())


def _fitted(spec, precision, jit_compile):
    """`DeepInfoMax` of `spec` after one SGD step: (logs, encoder weights)."""
    keras.utils.set_random_seed(1)
    encoder = encoders.build_encoder(
        spec, IMAGE_SHAPE, 8, dtype=precision, backbone={"local_layer": "c1"}
    )
    _assert_policy_inside(encoder, precision)
    dim = dim_tf.DeepInfoMax(encoder, mode="local+global", **SMALL)
    assert {critic.dtype_policy.name for critic in dim.critics} == {precision}
    dim.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile)
    history = dim.fit(_images(), batch_size=8, shuffle=False, verbose=0)
    return history.history, encoder.get_weights()


# mixed_float16 (loss scaling): the Trainer's test above and the keras: test below.
@pytest.mark.parametrize("precision", ["mixed_bfloat16"])
def test_deep_infomax_fits_a_mixed_file_backbone_with_xla_as_without(
    file_backbone, precision
):
    plain, plain_weights = _fitted(file_backbone, precision, False)
    xla, xla_weights = _fitted(file_backbone, precision, True)
    assert set(xla) == set(plain) and "mi/global" in xla
    for name, (value,) in xla.items():
        assert np.isfinite(value), name
        _close(value, plain[name][0], precision, name)
    for got, expected in zip(xla_weights, plain_weights, strict=True):
        _close(got, expected, precision, "weights")


def test_deep_infomax_fits_a_mixed_float16_keras_backbone():
    """Every layer keras.applications builds computes in float16; losses float32."""
    encoder = encoders.build_encoder(
        "keras:MobileNetV3Small", (32, 32, 1), 8, dtype="mixed_float16"
    )
    convs = [
        layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert convs and {layer.compute_dtype for layer in convs} == {"float16"}
    assert encoder.get_layer("input_range").compute_dtype == "float32"
    dim = dim_tf.DeepInfoMax(encoder, **SMALL)
    dim.compile()
    assert isinstance(dim.optimizer, keras.optimizers.LossScaleOptimizer)
    images = np.random.RandomState(0).randint(0, 256, (8, 32, 32, 1), np.uint8)
    metrics = dim.objective.losses_and_gradients(
        dim._model_input(images), tf.constant(0, tf.int64)
    )[0]
    assert {value.dtype for value in metrics.values()} == {tf.float32}
    history = dim.fit(images, batch_size=8, verbose=0)
    assert all(np.isfinite(values[0]) for values in history.history.values())
