"""`dim_tf.DeepInfoMax`: Keras `fit()` on the command line's objective, its callbacks, `.keras` encoders."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import dim_tf
from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import knn
from dim_tf.input import digits
from dim_tf.input.model_input import raw_images_to_model_input
from dim_tf.models import encoders
from dim_tf.training import build
from tests import strategies
from tests.events import event_tags
from tests.tiny import tiny_config

IMAGE_SHAPE = (28, 28, 1)
# tests.tiny's critic widths, as options.
SMALL = {"critic_units": 16, "global_units": 16}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _images(count, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (count, *IMAGE_SHAPE), np.uint8)


def _encoder(sync_batch_norm=False):
    return encoders.build_encoder(
        "basic28x28", IMAGE_SHAPE, 8, sync_batch_norm=sync_batch_norm
    )


class _BatchLogs(keras.callbacks.Callback):
    """The logs after each batch (running means since the epoch began)."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append({name: float(value) for name, value in logs.items()})


def _command_line_metrics(run, images, step):
    """`Trainer.losses_and_gradients`'s metrics of one global batch, reduced."""
    strategy = run.strategy
    rows = images.shape[0] // strategy.num_replicas_in_sync
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: images[ctx.replica_id_in_sync_group * rows :][:rows]
    )
    fn = tf.function(lambda x: run.losses_and_gradients(x, tf.constant(step, tf.int64)))
    metrics, _, _ = strategy.run(fn, args=(shards,))
    return {
        name: float(strategy.reduce("mean", value, axis=None))
        for name, value in metrics.items()
    }


@pytest.mark.parametrize(
    "fields,options",
    [
        (
            {"objective.prior": "uniform"},
            {"prior": "uniform"},
        ),
        (
            {
                "objective.mode": "local+global",
                "objective.estimator": "nce",
                "objective.prior": "gaussian",
                "critic.score_penalty": 0.05,
            },
            {
                "mode": "local+global",
                "estimator": "nce",
                "prior": "gaussian",
                "score_penalty": 0.05,
            },
        ),
    ],
)
def test_fit_on_two_replicas_computes_the_command_lines_step(fields, options):
    two = strategies.two_replicas()
    run = build.build_trainer(tiny_config(**fields), IMAGE_SHAPE, two)
    with two.scope():
        dim = dim_tf.DeepInfoMax(_encoder(sync_batch_norm=True), **SMALL, **options)
        dim.compile()
    assert set(dim.objective.models) == set(run.models)
    for name, model in run.models.items():
        dim.objective.models[name].set_weights(model.get_weights())
    images = _images(24)
    expected = _command_line_metrics(
        run, raw_images_to_model_input(images[:8], IMAGE_SHAPE[0]), step=0
    )

    logs = _BatchLogs()
    labels = np.arange(24) % 2
    monitor = dim_tf.callbacks.KNNMonitor(
        images[:16], labels[:16], images[16:], labels[16:], k=3
    )
    history = dim.fit(
        images, batch_size=8, epochs=1, shuffle=False, callbacks=[logs, monitor]
    )

    assert len(logs.batches) == 3 and int(dim.optimizer.iterations.numpy()) == 3
    assert set(expected) == set(run.metric_names()) <= set(logs.batches[0])
    for name, value in expected.items():
        np.testing.assert_allclose(
            logs.batches[0][name], value, rtol=1e-5, err_msg=name
        )
    assert all(np.isfinite(value) for value in logs.batches[-1].values())
    # The monitor's accuracy is the knn evaluator's on the trained encoder's y.
    y = dim.encoder(raw_images_to_model_input(images, IMAGE_SHAPE[0]))["y"]
    predicted = knn.knn_predict(y[:16], labels[:16], y[16:], 2, 3, 0.1)
    assert history.history["knn_y"][0] == np.mean(np.asarray(predicted) == labels[16:])


def _all_weights(dim):
    """Every model's weights and both optimizers' variables, as NumPy arrays."""
    weights = [
        w for model in dim.objective.models.values() for w in model.get_weights()
    ]
    for optimizer in (dim.optimizer, dim.prior_optimizer):
        weights += [v.numpy() for v in optimizer.variables] if optimizer else []
    return weights


class _StopAt(keras.callbacks.Callback):
    """Keeps the weights and raises at the end of epoch `epoch` (a kill)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights = _all_weights(self.model)
            raise RuntimeError("interrupted")


class _WeightsAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = _all_weights(self.model)


# The usage example's options, and the defaults (a uniform prior).
@pytest.mark.parametrize("options", [{"estimator": "nce", "prior": "none"}, {}])
def test_the_keras_example_resumes_an_interrupted_fit_and_saves_the_encoder(
    tmp_path, options
):
    images = _images(16)
    logdir, backup = str(tmp_path / "logs"), str(tmp_path / "backup")

    def fit(callback):
        """The usage example (docs/usage.md), on a new encoder and model."""
        encoder = _encoder()
        dim = dim_tf.DeepInfoMax(encoder, **options, **SMALL)
        dim.compile(optimizer=keras.optimizers.Adam(1e-4))
        callbacks = [
            keras.callbacks.TensorBoard(logdir),
            keras.callbacks.BackupAndRestore(backup),
            callback,
        ]
        history = dim.fit(images, batch_size=8, epochs=4, callbacks=callbacks)
        return encoder, dim, history

    stop = _StopAt(epoch=1)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(stop)
    resumed = _WeightsAtStart()
    encoder, dim, history = fit(resumed)

    assert history.epoch == [2, 3]
    assert int(dim.optimizer.iterations.numpy()) == 8  # 2 steps per epoch.
    assert len(resumed.weights) == len(stop.weights)
    for saved, restored in zip(stop.weights, resumed.weights):
        np.testing.assert_array_equal(restored, saved)
    if dim.prior_optimizer is not None:
        assert int(dim.prior_optimizer.iterations.numpy()) == 8
    tags = event_tags(os.path.join(logdir, "train"))
    assert {"epoch_loss", "epoch_mi/local"} <= set(tags)

    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    model_input = raw_images_to_model_input(images, IMAGE_SHAPE[0])
    expected, outputs = encoder(model_input), loaded(model_input)
    for tap in ("local", "conv", "fc", "y"):
        np.testing.assert_allclose(outputs[tap], expected[tap], rtol=1e-6, atol=1e-6)


def test_knn_monitor_logs_the_knn_accuracy_every_second_epoch():
    images, labels = digits.load_arrays()
    train, test = digits.split_indices()
    train, test = train[:300], test[:100]
    dim = dim_tf.DeepInfoMax(_encoder(), prior="none", **SMALL)
    dim.compile()
    monitor = dim_tf.callbacks.KNNMonitor(
        images[train], labels[train], images[test], labels[test], k=20, every=2
    )
    # A dataset of (images, labels) batches: the labels go unused.
    batches = tf.data.Dataset.from_tensor_slices((images[train], labels[train]))
    history = dim.fit(batches.take(16).batch(8), epochs=2, callbacks=[monitor])
    accuracy = history.history["knn_y"]
    assert len(accuracy) == 1  # After epoch 2 only.
    assert 0.2 < accuracy[0] <= 1.0  # Chance is 0.1.


def test_two_views_fit_with_an_augmentation_preset():
    dim = dim_tf.DeepInfoMax(
        _encoder(), views=2, augment="flip_crop", prior="none", **SMALL
    )
    dim.compile()
    # Keras's positional order: x, y, batch_size, epochs, verbose.
    history = dim.fit(_images(8), None, 8, 2, 0)
    assert history.epoch == [0, 1] and int(dim.optimizer.iterations.numpy()) == 2
    assert set(history.history) == {"loss", "mi/local"}
    assert np.isfinite(history.history["loss"][0])


def test_xla_compiles_views_without_random_resized_crops_and_refuses_them():
    dim = dim_tf.DeepInfoMax(
        _encoder(), views=2, augment="flip_crop", prior="none", **SMALL
    )
    dim.compile(jit_compile=True)
    history = dim.fit(_images(8), None, 8, 1, 0)
    assert np.isfinite(history.history["loss"][0])
    dim = dim_tf.DeepInfoMax(
        _encoder(), views=2, augment="simclr", prior="none", **SMALL
    )
    with pytest.raises(UserError, match="random resized crops .* jit_compile=False"):
        dim.compile(jit_compile=True)


@pytest.mark.parametrize("name,size", [("folded_basic32x32", 32), ("resnet32x32", 32)])
def test_an_encoder_with_dim_tf_layers_loads_back_from_a_keras_file(
    tmp_path, name, size
):
    encoder = encoders.build_encoder(name, (size, size, 3), 8)
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3))
    np.save(tmp_path / "images.npy", images.astype(np.float32))
    np.save(tmp_path / "y.npy", encoder(images.astype(np.float32))["y"].numpy())
    # A new process: only importing dim_tf's encoders registers the layers.
    script = (
        "import sys, numpy as np, keras, dim_tf.models.encoders\n"
        "model = keras.saving.load_model(sys.argv[1] + '/encoder.keras')\n"
        "y = model(np.load(sys.argv[1] + '/images.npy'))['y']\n"
        "np.testing.assert_allclose(y, np.load(sys.argv[1] + '/y.npy'), atol=1e-5)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "options,fields",
    [
        ({"estimator": "mine"}, {"objective.estimator": "mine"}),
        ({"critic": "bilinear"}, {"critic.kind": "bilinear"}),
        ({"views": 2}, {"objective.views": 2}),
        (
            {"mode": "global", "score_scale": "sqrt_units"},
            {"objective.mode": "global", "critic.score_scale": "sqrt_units"},
        ),
        ({"alpha": -1.0}, {"objective.alpha": -1.0}),
    ],
)
def test_a_bad_option_gives_the_config_checks_message(options, fields):
    with pytest.raises(UserError) as from_config:
        config_lib.check_config(tiny_config(**fields))
    with pytest.raises(UserError) as from_model:
        dim_tf.DeepInfoMax(_encoder(), **options)
    assert str(from_model.value) == str(from_config.value)
    assert "\n" not in str(from_model.value)


def test_an_unknown_option_or_attribute_is_named():
    with pytest.raises(UserError, match="unknown DeepInfoMax option 'estimater'"):
        dim_tf.DeepInfoMax(_encoder(), estimater="nce")
    with pytest.raises(UserError, match="views=.two. does not fit objective.views"):
        dim_tf.DeepInfoMax(_encoder(), views="two")
    with pytest.raises(AttributeError, match="DeepInfoMacks"):
        dim_tf.DeepInfoMacks  # noqa: B018


def _tiny_dim(strategy=None, **options):
    """A DeepInfoMax with a sync-BatchNorm basic28x28, built under `strategy`."""
    with (strategy or tf.distribute.get_strategy()).scope():
        encoder = _encoder(sync_batch_norm=strategy is not None)
        return dim_tf.DeepInfoMax(encoder, **SMALL, **options)


def test_fit_and_knn_monitor_refuse_float_images_already_in_model_range():
    dim = _tiny_dim(prior="none")
    dim.compile()
    scaled = np.random.RandomState(0).uniform(-1, 1, (8, *IMAGE_SHAPE))
    scaled = scaled.astype(np.float32)
    message = r"takes pixel values in \[0, 255\] .*; got float32 in \[-0.99"
    with pytest.raises(UserError, match="DeepInfoMax.fit " + message):
        dim.fit(scaled, batch_size=8)
    with pytest.raises(UserError, match="got a dataset of float32 images"):
        dim.fit(tf.data.Dataset.from_tensors(scaled))
    labels = np.zeros(8, np.int32)
    with pytest.raises(UserError, match="KNNMonitor " + message):
        dim_tf.callbacks.KNNMonitor(_images(8), labels, scaled, labels)
    # Integer pixels of any width, and floats in [0, 255], are pixels.
    history = dim.fit(_images(8).astype(np.int64), batch_size=8, verbose=0)
    history = dim.fit(_images(8).astype(np.float32), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_compile_outside_the_strategy_scope_and_its_checks():
    two = strategies.two_replicas()
    dim = _tiny_dim(two)
    dim.compile()  # Outside two.scope(): the optimizer is made inside it.
    history = dim.fit(_images(8), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(UserError, match="optimizer was made under another"):
        _tiny_dim(two).compile(optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(UserError, match="prior_optimizer was made under another"):
        _tiny_dim(two, prior_optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(UserError, match=r"jit_compile=True\) needs one replica"):
        _tiny_dim(two).compile(jit_compile=True)
    with pytest.raises(UserError, match="has no prior discriminator"):
        _tiny_dim(prior="none", prior_optimizer=keras.optimizers.SGD(0.1))


def test_fit_input_errors_are_one_line():
    two = strategies.two_replicas()
    dim = _tiny_dim(two)
    with two.scope():
        dim.compile()
    images = _images(12)
    batches = tf.data.Dataset.from_tensor_slices(images)
    cases = [
        (dict(x=images, batch_size=5), "batch_size 5 cannot be split over 2"),
        (dict(x=images[0]), r"takes images \[N, H, W, C\]"),
        (dict(x=batches), "takes a dataset of image batches"),
        (dict(x=batches.batch(3, drop_remainder=True)), "batches of 3 do not split"),
        (dict(x=batches.batch(4)), "batches of None do not split"),
        (dict(x=images, batch_size=4, validation_split=0.5), "no validation step"),
        (dict(x=images, batch_size=4, validation_data=images), "no validation step"),
    ]
    for kwargs, message in cases:
        with pytest.raises(UserError, match=message) as raised:
            dim.fit(**kwargs, verbose=0)
        assert "\n" not in str(raised.value)
    assert int(dim.optimizer.iterations.numpy()) == 0


def test_an_encoder_without_dims_outputs_or_scale_maps_is_refused():
    inputs = keras.Input(IMAGE_SHAPE)
    maps = keras.layers.Conv2D(4, 3)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    with pytest.raises(UserError, match="encoder_from_backbone"):
        dim_tf.DeepInfoMax(keras.Model(inputs, maps, name="plain"))
    no_y = keras.Model(inputs, {"local": maps, "z": pooled})
    with pytest.raises(UserError, match="dict with 'local'"):
        dim_tf.DeepInfoMax(no_y)
    encoder = keras.Model(inputs, {"local": maps, "y": pooled}, name="mine")
    with pytest.raises(UserError, match="pair y:conv2: the encoder has no such map"):
        dim_tf.DeepInfoMax(encoder, scales="y:local,y:conv2", **SMALL)


def test_knn_monitor_checks_its_arguments_before_training():
    images, labels = _images(8), np.zeros(8, np.int32)
    for kwargs, message in [
        (dict(every=0), "every=0"),
        (dict(k=0), "k=0"),
        (dict(train_labels=labels[:5]), "8 train images and 5 labels"),
    ]:
        arguments = dict(
            train_images=images,
            train_labels=labels,
            test_images=images,
            test_labels=labels,
        )
        with pytest.raises(UserError, match=message):
            dim_tf.callbacks.KNNMonitor(**{**arguments, **kwargs})
    dim = _tiny_dim(prior="none")
    dim.compile()
    monitor = dim_tf.callbacks.KNNMonitor(images, labels, images, labels, taps=("z",))
    with pytest.raises(UserError, match="taps z: the encoder has no such output"):
        dim.fit(images, batch_size=8, callbacks=[monitor], verbose=0)
    assert int(dim.optimizer.iterations.numpy()) == 0


def test_a_mixed_float16_encoder_trains_with_loss_scaling_and_float16_critics():
    encoder = encoders.build_encoder(
        "basic28x28", IMAGE_SHAPE, 8, dtype="mixed_float16"
    )
    dim = dim_tf.DeepInfoMax(encoder, mode="local+global", **SMALL)
    dim.compile(optimizer=keras.optimizers.SGD(0.01))
    assert isinstance(dim.optimizer, keras.optimizers.LossScaleOptimizer)
    assert {critic.dtype_policy.name for critic in dim.critics} == {"mixed_float16"}
    history = dim.fit(_images(8), batch_size=8, verbose=0)
    assert all(np.isfinite(values[0]) for values in history.history.values())


def test_one_sgd_step_on_two_replicas_equals_one_on_one_device():
    """The replica scaling of the loss: a sum over replicas of mean gradients."""
    weights, trained = None, []
    for strategy in (strategies.two_replicas(), strategies.one_device()):
        with strategy.scope():
            sgd = keras.optimizers.SGD(0.1)
            dim = _tiny_dim(strategy, mode="local+global", prior_optimizer=sgd)
            dim.compile(optimizer=keras.optimizers.SGD(0.1))
        weights = weights or {
            n: m.get_weights() for n, m in dim.objective.models.items()
        }
        for name, model in dim.objective.models.items():
            model.set_weights(weights[name])
        dim.fit(_images(8), batch_size=8, shuffle=False, verbose=0)
        trained.append({n: m.get_weights() for n, m in dim.objective.models.items()})
    for name, before in weights.items():
        two, one = trained[0][name], trained[1][name]
        assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(one, before)), name
        for a, b in zip(two, one):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


class _CountCalls(keras.layers.Layer):
    """The identity, counting its eager calls."""

    calls = 0

    def call(self, x):
        _CountCalls.calls += 1
        return x


def test_construction_runs_the_encoder_once():
    images = keras.Input(IMAGE_SHAPE)
    encoder = keras.Model(images, _encoder()(_CountCalls()(images)))
    _CountCalls.calls = 0
    dim_tf.DeepInfoMax(encoder, **SMALL)
    assert _CountCalls.calls == 1
