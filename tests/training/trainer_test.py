"""The distributed step: one global batch gives the same loss and gradients on 1 and 2 replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.training import build
from tests import strategies
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow

IMAGE_SHAPE = (28, 28, 1)

ONE = strategies.one_device()
TWO = strategies.two_replicas()


def _build(config, strategy):
    return build.build_trainer(config, IMAGE_SHAPE, strategy)


def _copy_weights(source, target):
    for name, model in source.models.items():
        target.models[name].set_weights(model.get_weights())


def _global_loss_and_gradients(run, images, step=3):
    strategy = run.strategy
    replicas = strategy.num_replicas_in_sync
    rows = images.shape[0] // replicas
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: images[ctx.replica_id_in_sync_group * rows :][:rows]
    )
    fn = tf.function(lambda x: run.losses_and_gradients(x, tf.constant(step, tf.int64)))
    metrics, grads, prior_grads = strategy.run(fn, args=(shards,))
    loss = strategy.reduce("mean", metrics["loss"], axis=None)
    summed = [strategy.reduce("sum", g, axis=None) for g in grads + (prior_grads or [])]
    return float(loss), [g.numpy() for g in summed]


# Two augmented views with every option beyond the paper: several scales
# (a map-to-map pair among them), occlusion, coordinate prediction.
_VIEWS = {
    "objective.views": 2,
    "objective.scales": "y:local,y:conv1=0.5,local:local=0.5",
    "objective.occlusion": 0.25,
    "objective.coordinates": 0.5,
}


# The critics' score options, all on (docs/method.md).
SCORE_OPTIONS = {
    "critic.score_scale": "sqrt_units",
    "critic.score_clip": 2.0,
    "critic.score_penalty": 0.05,
}


@pytest.mark.parametrize(
    "mode,estimator,prior,kind,extra",
    [
        ("local", "jsd", "uniform", "dot", {}),
        ("local", "nce", "none", "concat", {}),
        # The score penalty's mean over the global batch too.
        ("local+global", "dv", "gaussian", "dot", SCORE_OPTIONS),
        ("global", "jsd", "uniform", "dot", {}),
        # Views with every option, the prior off (one case: each costs ~40 s).
        ("local+global", "nce", "none", "dot", {**_VIEWS, **SCORE_OPTIONS}),
    ],
)
def test_one_and_two_replicas_agree_on_a_global_batch(
    mode, estimator, prior, kind, extra
):
    config = tiny_config(
        **{
            "objective.mode": mode,
            "objective.estimator": estimator,
            "objective.prior": prior,
            "critic.kind": kind,
            **extra,
        }
    )
    _assert_one_and_two_replicas_agree(config)


def test_a_backbone_s_batch_norm_sees_the_global_batch_on_two_replicas(tmp_path):
    path = str(tmp_path / "small.keras")
    inputs = keras.Input((None, None, 1))
    # No bias before the BatchNorm: its gradient is zero up to rounding.
    x = keras.layers.Conv2D(8, 3, 2, "same", use_bias=False, name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    keras.Model(inputs, x).save(path)
    config = tiny_config(
        **{
            "encoder": f"file:{path}",
            "image_size": IMAGE_SHAPE[0],
            "backbone.local_layer": "relu",
        }
    )
    two = _assert_one_and_two_replicas_agree(config)
    assert two.encoder.get_layer("bn").synchronized


def _assert_one_and_two_replicas_agree(config):
    """The global batch's loss and gradients on one and two replicas; returns two's."""
    one = _build(config, ONE)
    two = _build(config, TWO)
    _copy_weights(one, two)
    shape = one.example_shape(IMAGE_SHAPE)
    images = tf.random.stateless_uniform((8, *shape), (1, 2), -1.0, 1.0)

    loss_one, grads_one = _global_loss_and_gradients(one, images)
    loss_two, grads_two = _global_loss_and_gradients(two, images)

    assert np.isfinite(loss_one)
    np.testing.assert_allclose(loss_two, loss_one, rtol=1e-4)
    assert len(grads_one) == len(grads_two)
    flat_one = np.concatenate([g.ravel() for g in grads_one])
    flat_two = np.concatenate([g.ravel() for g in grads_two])
    total_norm = np.linalg.norm(flat_one)
    assert total_norm > 0
    assert np.linalg.norm(flat_one - flat_two) / total_norm < 1e-4
    # Per variable too; a variable whose gradient is zero up to rounding (e.g.
    # a score bias that NCE is invariant to) is held to the global scale.
    for g1, g2 in zip(grads_one, grads_two):
        assert np.linalg.norm(g1 - g2) <= 1e-4 * np.linalg.norm(g1) + 1e-7 * total_norm
    return two


def test_training_steps_on_two_replicas_raise_the_local_mi():
    config = tiny_config(**{"train.learning_rate": 1e-3})
    run = _build(config, TWO)
    images = tf.random.stateless_uniform((8, *IMAGE_SHAPE), (3, 4), -1.0, 1.0)
    dataset = run.strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(images).repeat()
    )
    iterator = iter(dataset)
    first, bad = run.train_steps(iterator, 1)
    for _ in range(5):
        last, bad = run.train_steps(iterator, 5)
    assert int(bad) == -1
    assert int(run.step.numpy()) == 26
    assert float(last["mi/local"]) > float(first["mi/local"]) + 0.1


def test_mixed_bfloat16_step_keeps_float32_losses():
    config = tiny_config(**{"train.precision": "mixed_bfloat16"})
    run = _build(config, ONE)
    assert run.encoder(tf.zeros((2, *IMAGE_SHAPE)))["y"].dtype == tf.bfloat16
    images = tf.random.stateless_uniform((8, *IMAGE_SHAPE), (5, 6), -1.0, 1.0)
    iterator = iter(tf.data.Dataset.from_tensors(images).repeat())
    metrics, bad = run.train_steps(iterator, 2)
    assert int(bad) == -1
    assert all(value.dtype == tf.float32 for value in metrics.values())
    assert all(np.isfinite(float(value)) for value in metrics.values())


def test_mixed_float16_uses_loss_scaling():
    config = tiny_config(**{"train.precision": "mixed_float16"})
    run = _build(config, ONE)
    assert isinstance(run.optimizer, keras.optimizers.LossScaleOptimizer)
    images = tf.random.stateless_uniform((8, *IMAGE_SHAPE), (5, 6), -1.0, 1.0)
    metrics, bad = run.train_steps(
        iter(tf.data.Dataset.from_tensors(images).repeat()), 2
    )
    assert int(bad) == -1 and np.isfinite(float(metrics["loss"]))


def test_non_finite_loss_reports_its_step():
    config = tiny_config()
    run = _build(config, ONE)
    images = tf.fill((8, *IMAGE_SHAPE), np.nan)
    _, bad = run.train_steps(iter(tf.data.Dataset.from_tensors(images).repeat()), 3)
    assert int(bad) == 0


def test_a_resnet_trains_with_the_global_critic_on_its_map():
    """Both critics on resnet32x32's 8x8x512 local map, under the trainer."""
    config = tiny_config(**{"encoder": "resnet32x32", "objective.mode": "local+global"})
    run = build.build_trainer(config, (32, 32, 1), ONE)
    images = tf.random.stateless_uniform((8, 32, 32, 1), (7, 8), -1.0, 1.0)
    metrics, bad = run.train_steps(
        iter(tf.data.Dataset.from_tensors(images).repeat()), 2
    )
    assert int(bad) == -1 and int(run.step.numpy()) == 2
    assert {"mi/local", "mi/global"} <= set(metrics)
    assert all(np.isfinite(float(value)) for value in metrics.values())
