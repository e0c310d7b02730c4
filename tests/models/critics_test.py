"""Tests for dim_tf.models.critics: shapes, the two-stage interface, NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.models import critics
from tests import strategies

N, M, C, D = 4, 5, 6, 3  # batch, map size, local channels, y_dim
L = M * M


def _inputs(seed=0, n=N, m=M):
    rng = np.random.default_rng(seed)
    return {
        "local": rng.normal(size=(n, m, m, C)).astype("float32"),
        "y": rng.normal(size=(n, D)).astype("float32"),
    }


def _make(kind, units=8, dtype=None, **kwargs):
    if kind == "dot":
        return critics.DotCritic(units, dtype=dtype, **kwargs)
    if kind == "concat":
        return critics.ConcatCritic(units, dtype=dtype)
    return critics.GlobalCritic(units, dtype=dtype)


def _locations(kind):
    return 1 if kind == "global" else L


def _relu(x):
    return np.maximum(x, 0)


KINDS = ("dot", "concat", "global")


@pytest.mark.parametrize("kind", KINDS)
def test_score_shapes_and_dtype(kind):
    critic = _make(kind)
    scores = critic(_inputs())
    assert tuple(scores.shape) == (N, N, _locations(kind))
    assert scores.dtype == tf.float32
    local_emb, global_emb = critic.embed(_inputs()["local"], _inputs()["y"])
    assert local_emb.shape[:2] == (N, _locations(kind))
    assert global_emb.shape[0] == N and global_emb.shape.rank == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_batch", [True, False])
def test_build_from_shapes_creates_every_variable(kind, with_batch):
    critic = _make(kind)
    if with_batch:
        critic.build_from_shapes((None, M, M, C), (None, D))
    else:
        critic.build_from_shapes(tf.TensorShape((M, M, C)), tf.TensorShape((D,)))
    assert critic.built
    before = [v.path for v in critic.weights]
    assert before
    critic(_inputs(), training=True)
    assert [v.path for v in critic.weights] == before


@pytest.mark.parametrize("kind", KINDS)
def test_embed_first_builds(kind):
    critic = _make(kind)
    inputs = _inputs()
    local_emb, global_emb = critic.embed(inputs["local"], inputs["y"], training=True)
    scores = critic.pair_scores(global_emb, local_emb)
    assert tuple(scores.shape) == (N, N, _locations(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_bfloat16(kind):
    critic = _make(kind, dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # global untouched
    inputs = _inputs()
    local_emb, global_emb = critic.embed(inputs["local"], inputs["y"], training=True)
    assert local_emb.dtype == tf.bfloat16 and global_emb.dtype == tf.bfloat16
    scores = critic.pair_scores(global_emb, local_emb)
    assert scores.dtype == tf.float32
    assert all(v.dtype == "float32" for v in critic.weights)
    # Close to the float32 critic with the same weights.
    reference = _make(kind)
    reference.build_from_shapes((M, M, C), (D,))
    reference.set_weights(critic.get_weights())
    np.testing.assert_allclose(
        scores, reference(inputs, training=True), rtol=0.1, atol=0.1
    )


@pytest.mark.parametrize("kind", KINDS)
def test_pair_scores_on_a_slice_of_rows(kind):
    """What the distributed step relies on: rows depend only on their own Y."""
    critic = _make(kind)
    inputs = _inputs()
    local_emb, global_emb = critic.embed(inputs["local"], inputs["y"], training=True)
    full = critic.pair_scores(global_emb, local_emb)
    for rows in (slice(0, 1), slice(1, 3), slice(2, 4)):
        part = critic.pair_scores(global_emb[rows], local_emb)
        np.testing.assert_allclose(part, full[rows], rtol=1e-5, atol=1e-5)
    # And the columns: scoring against a subset of images is the same subset.
    part = critic.pair_scores(global_emb, local_emb[1:3])
    np.testing.assert_allclose(part, full[:, 1:3], rtol=1e-5, atol=1e-5)


def _concat_head_reference(critic, features, y):
    """Scores of features [N, L, A] vs y [N, D] by literal tiling + concat."""
    kernel, bias = (w.numpy() for w in critic.joint.weights)
    w2, b2 = (w.numpy() for w in critic.hidden.weights)
    w3, b3 = (w.numpy() for w in critic.score.weights)
    n, locations = y.shape[0], features.shape[1]
    expected = np.zeros((n, features.shape[0], locations), np.float32)
    for i in range(n):
        for j in range(features.shape[0]):
            tiled = np.tile(y[i][None], (locations, 1))
            joint = np.concatenate([features[j], tiled], axis=-1)  # [L, A + D]
            h = _relu(joint @ kernel + bias)
            h = _relu(h @ w2 + b2)
            expected[i, j] = (h @ w3 + b3)[:, 0]
    return expected


def test_concat_critic_matches_tile_and_concat():
    critic = critics.ConcatCritic(units=7)
    inputs = _inputs(seed=1)
    scores = critic(inputs).numpy()
    assert critic.joint.kernel.shape == (C + D, 7)  # one conv on [local; y]
    features = inputs["local"].reshape(N, L, C)
    expected = _concat_head_reference(critic, features, inputs["y"])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def _conv_valid_relu(x, kernel, bias):
    """NumPy 'valid' 2-D convolution (stride 1) + ReLU: [N, H, W, Ci] -> [N, H', W', Co]."""
    k = kernel.shape[0]
    h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((x.shape[0], h, w, kernel.shape[-1]), np.float32)
    for r in range(h):
        for c in range(w):
            patch = x[:, r : r + k, c : c + k, :]
            out[:, r, c] = np.einsum("nabi,abio->no", patch, kernel)
    return _relu(out + bias)


def test_global_critic_matches_convs_flatten_concat():
    critic = critics.GlobalCritic(units=9)
    inputs = _inputs(seed=2, m=6)
    scores = critic(inputs).numpy()
    assert scores.shape == (N, N, 1)
    h = _conv_valid_relu(inputs["local"], *(w.numpy() for w in critic.conv1.weights))
    h = _conv_valid_relu(h, *(w.numpy() for w in critic.conv2.weights))
    assert h.shape == (N, 2, 2, 32)  # 6 -> 4 -> 2 with 'valid' padding
    features = h.reshape(N, 1, -1)
    assert critic.joint.kernel.shape == (2 * 2 * 32 + D, 9)
    expected = _concat_head_reference(critic, features, inputs["y"])
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_global_critic_needs_5x5_map():
    with pytest.raises(UserError) as info:
        critics.GlobalCritic().build_from_shapes((4, 4, C), (D,))
    assert "\n" not in str(info.value) and "5x5" in str(info.value)


def test_dot_critic_is_dot_product_of_separate_embeddings():
    critic = critics.DotCritic(units=8)
    inputs = _inputs(seed=3)
    scores = critic(inputs, training=False).numpy()
    local_emb = critic.local_net(inputs["local"], training=False).numpy()
    global_emb = critic.global_net(inputs["y"], training=False).numpy()
    assert local_emb.shape == (N, M, M, 8) and global_emb.shape == (N, 8)
    local_emb = local_emb.reshape(N, L, 8)
    for i in range(N):
        for j in range(N):
            for loc in range(L):
                np.testing.assert_allclose(
                    scores[i, j, loc],
                    np.dot(global_emb[i], local_emb[j, loc]),
                    rtol=1e-5,
                    atol=1e-5,
                )


def _encode_block_reference(block, x):
    """NumPy LayerNorm(W2 relu(BN(W1 x)) + b2 + Ws x) with BN moving stats."""
    w1 = block.hidden.kernel.numpy().reshape(-1, block.units)
    gamma, beta, mean, var = (w.numpy() for w in block.batch_norm.weights)
    w2 = block.output_linear.kernel.numpy().reshape(block.units, block.units)
    b2 = block.output_linear.bias.numpy()
    ws = block.shortcut.kernel.numpy().reshape(-1, block.units)
    ln_gamma, ln_beta = (w.numpy() for w in block.layer_norm.weights)
    h = x @ w1
    h = (h - mean) / np.sqrt(var + 1e-5) * gamma + beta
    h = _relu(h) @ w2 + b2 + x @ ws
    mu = h.mean(-1, keepdims=True)
    sigma2 = h.var(-1, keepdims=True)
    return (h - mu) / np.sqrt(sigma2 + 1e-5) * ln_gamma + ln_beta


def test_dot_critic_encode_blocks_match_numpy():
    critic = critics.DotCritic(units=8)
    inputs = _inputs(seed=4)
    critic.build_from_shapes((M, M, C), (D,))
    # Non-trivial BatchNorm statistics and LayerNorm parameters.
    rng = np.random.default_rng(5)
    for variable in critic.weights:
        if "batch_norm" in variable.path or "layer_norm" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape))
    local_emb, global_emb = critic.embed(inputs["local"], inputs["y"], training=False)
    np.testing.assert_allclose(
        local_emb,
        _encode_block_reference(critic.local_net, inputs["local"]).reshape(N, L, 8),
        rtol=1e-4,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        global_emb,
        _encode_block_reference(critic.global_net, inputs["y"]),
        rtol=1e-4,
        atol=1e-4,
    )
    assert isinstance(critic.local_net.hidden, keras.layers.Conv2D)  # 1x1 conv
    assert critic.local_net.hidden.kernel_size == (1, 1)
    assert isinstance(critic.global_net.hidden, keras.layers.Dense)
    assert not critic.local_net.hidden.use_bias
    assert not critic.local_net.shortcut.use_bias
    assert critic.local_net.output_linear.use_bias


def test_shortcut_starts_near_identity():
    critic = critics.DotCritic(units=8)
    critic.build_from_shapes((M, M, C), (D,))
    kernel = critic.local_net.shortcut.kernel.numpy().reshape(C, 8)
    np.testing.assert_array_equal(np.diag(kernel), np.ones(C))
    off_diagonal = kernel[~np.eye(C, 8, dtype=bool)]
    assert np.all(np.abs(off_diagonal) <= 0.01)
    # Fewer units than inputs: no identity, Glorot uniform.
    narrow = critics.DotCritic(units=4)
    narrow.build_from_shapes((M, M, C), (D,))
    kernel = narrow.local_net.shortcut.kernel.numpy().reshape(C, 4)
    assert np.abs(kernel).max() <= np.sqrt(6 / (C + 4))
    assert np.abs(kernel).max() > 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_weight(kind):
    critic = _make(kind)
    inputs = {k: tf.constant(v) for k, v in _inputs(seed=6).items()}
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(N, N, _locations(kind))).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs["local"])
        tape.watch(inputs["y"])
        loss = tf.reduce_sum(critic(inputs, training=True) * weights)
    grads = tape.gradient(loss, critic.trainable_variables)
    assert len(grads) == len(critic.trainable_variables) > 0
    for variable, grad in zip(critic.trainable_variables, grads):
        assert grad is not None, variable.path
        assert float(tf.reduce_max(tf.abs(grad))) > 0, variable.path
    # And through to the encoder's features.
    for grad in tape.gradient(loss, [inputs["local"], inputs["y"]]):
        assert float(tf.reduce_max(tf.abs(grad))) > 0


def test_build_local_critic():
    dot = critics.build_local_critic("dot", 16, sync_batch_norm=True)
    assert isinstance(dot, critics.DotCritic) and dot.units == 16
    assert dot.local_net.batch_norm.synchronized
    assert dot.global_net.batch_norm.synchronized
    assert critics.build_local_critic("dot").units == 2048
    concat = critics.build_local_critic("concat", 32, dtype="mixed_bfloat16")
    assert isinstance(concat, critics.ConcatCritic) and concat.units == 32
    assert concat.dtype_policy.name == "mixed_bfloat16"
    assert critics.build_local_critic("concat").units == 512
    glob = critics.build_global_critic()
    assert isinstance(glob, critics.GlobalCritic) and glob.units == 512


def test_bad_kind_and_units():
    # Users meet the `critic` config checks first.
    with pytest.raises(ValueError) as info:
        critics.build_local_critic("bilinear", 8)
    message = str(info.value)
    assert "\n" not in message and "bilinear" in message
    assert "dot" in message and "concat" in message
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError) as info:
            critics.build_local_critic("dot", bad)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["dot", "concat"])
def test_two_replicas_with_gathered_embeddings(kind):
    """Each replica embeds its half, gathers local embeddings, scores its rows."""
    strategy = strategies.two_replicas()
    with strategy.scope():
        critic = _make(kind, sync_batch_norm=True) if kind == "dot" else _make(kind)
        critic.build_from_shapes((M, M, C), (D,))
    inputs = _inputs(seed=8)
    inputs["local"][2:] = inputs["local"][2:] * 0.5 + 1.0  # different halves
    expected = critic(inputs, training=True)

    def replica_step(local, y):
        local_emb, global_emb = critic.embed(local, y, training=True)
        context = tf.distribute.get_replica_context()
        all_local = context.all_gather(local_emb, axis=0)
        return critic.pair_scores(global_emb, all_local)

    @tf.function
    def step(local, y):
        return strategy.run(replica_step, args=(local, y))

    def shard(array):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(array[2 * ctx.replica_id_in_sync_group :][:2])
        )

    out = step(shard(inputs["local"]), shard(inputs["y"]))
    got = tf.concat(strategy.experimental_local_results(out), axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def _concat_trainer(units):
    from dim_tf.training import build
    from tests.tiny import tiny_config

    config = tiny_config(**{"critic.kind": "concat", "critic.units": units})
    shape = (28, 28, 1)
    return build.build_trainer(config, shape, tf.distribute.get_strategy())


def test_the_default_concat_critic_is_the_papers_512_512_1():
    """critic.units=None builds concat-and-convolve 512-512-1, not 2048 wide."""
    run = _concat_trainer(None)
    critic = run.local_critic
    assert isinstance(critic, critics.ConcatCritic)
    widths = [critic.joint.units, critic.hidden.units, critic.score.units]
    assert widths == [512, 512, 1]
    wide = _concat_trainer(2048).local_critic  # An explicit width still wins.
    assert [wide.joint.units, wide.hidden.units] == [2048, 2048]

    # The per-pair layers (hidden + score) are what every (i, j, l) pays for:
    # their multiply-adds shrink 16x, and the parameters more than 4x.
    def per_pair_weights(c):
        return np.prod(c.hidden.kernel.shape) + np.prod(c.score.kernel.shape)

    per_pair, wide_per_pair = per_pair_weights(critic), per_pair_weights(wide)
    assert wide_per_pair / per_pair > 15
    assert wide.count_params() / critic.count_params() > 4
