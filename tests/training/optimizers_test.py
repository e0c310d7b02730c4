"""FusedAdam makes exactly Keras Adam's updates, on one and on two replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.training.optimizers import FusedAdam
from tests import strategies


def _run(optimizer_cls, strategy, steps=3):
    with strategy.scope():
        variables = [
            keras.Variable(np.linspace(-1, 1, 12).reshape(3, 4), dtype="float32"),
            keras.Variable(np.full([5], 0.5), dtype="float32"),
        ]
        optimizer = optimizer_cls(1e-2, beta_1=0.5, beta_2=0.999)
        optimizer.build(variables)

    @tf.function
    def step(i):
        def replica_step():
            # Each replica's share of a global-batch gradient.
            scale = 1.0 / strategy.num_replicas_in_sync
            grads = [
                tf.sin(tf.cast(i + 1, tf.float32) * v.value) * scale for v in variables
            ]
            optimizer.apply(grads, variables)

        strategy.run(replica_step)

    for i in range(steps):
        step(tf.constant(i))
    moments = [v.numpy() for v in optimizer.variables]
    return [v.numpy() for v in variables], moments


@pytest.mark.parametrize("strategy", ["one", "two"])
def test_fused_adam_equals_keras_adam(strategy):
    strategy = (
        strategies.one_device() if strategy == "one" else strategies.two_replicas()
    )
    fused, fused_state = _run(FusedAdam, strategy)
    reference, reference_state = _run(keras.optimizers.Adam, strategy)
    for a, b in zip(fused + fused_state, reference + reference_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(fused[0], np.linspace(-1, 1, 12).reshape(3, 4))


def test_the_update_is_one_fused_kernel():
    variables = [keras.Variable(np.ones((3, 4)), dtype="float32")]
    optimizer = FusedAdam(1e-2)
    optimizer.build(variables)

    @tf.function(autograph=False)
    def apply():
        optimizer.apply([tf.ones((3, 4))], variables)

    ops = {op.type for op in apply.get_concrete_function().graph.get_operations()}
    assert "ResourceApplyAdam" in ops and "Sqrt" not in ops
