"""`train()` end to end on the embedded digits: workdir, resume, refusals, divergence."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dim_tf import models
from dim_tf.errors import TrainingError, UserError
from dim_tf.input import pipeline
from dim_tf.training import build, loop
from tests.events import event_tags
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow


def _config(data_dir, **overrides):
    return tiny_config(**{"data.data_dir": data_dir, **overrides})


def _encoder_weights(workdir, config):
    _, run, _ = build.build(config, workdir)
    tf.train.Checkpoint(encoder=run.encoder).restore(
        tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    ).expect_partial()
    return run.encoder.get_weights()


def test_train_writes_the_workdir(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    result = loop.train(_config(data_dir), workdir)

    assert result.step == 4
    assert set(result.metrics) >= {"loss", "mi/local", "prior/discriminator_loss"}
    assert all(np.isfinite(v) for v in result.metrics.values())
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["objective"]["estimator"] == "jsd"
    assert result.checkpoint.endswith("ckpt-4")
    assert result.stopped_early is None
    tags = event_tags(os.path.join(workdir, "train"))
    health = {
        "health/y_std",
        "health/effective_rank",
        "health/dead_fc_fraction",
        "health/critic_positive",
        "health/critic_negative",
    }
    assert health | {"loss", "mi/local", "y", "prior_samples", "prior_code"} <= set(
        tags
    )
    assert tags["health/y_std"] == [2, 4]  # Every train.log_every steps.
    assert not any(tag.startswith("health/global_critic") for tag in tags)


def test_resumed_run_equals_an_uninterrupted_one(data_dir, tmp_path):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    loop.train(_config(data_dir, **{"train.steps": 6}), straight)
    first = loop.train(_config(data_dir, **{"train.steps": 2}), resumed)
    assert first.step == 2
    second = loop.train(_config(data_dir, **{"train.steps": 6}), resumed)
    assert second.step == 6

    config = _config(data_dir, **{"train.steps": 6})
    for a, b in zip(
        _encoder_weights(straight, config), _encoder_weights(resumed, config)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rerunning_a_finished_run_changes_nothing(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(_config(data_dir), workdir)
    before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    again = loop.train(_config(data_dir), workdir)
    assert again.step == 4
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before


def test_fields_resolved_when_built_resume_with_the_same_command(data_dir, tmp_path):
    """Unset critic.units and data.shuffle_buffer: the record holds what the run uses."""
    workdir = str(tmp_path / "run")
    unset = {"data.shuffle_buffer": None, "critic.kind": "concat", "critic.units": None}
    loop.train(_config(data_dir, **{"train.steps": 2, **unset}), workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = json.load(f)
    assert recorded["data"]["shuffle_buffer"] is None
    assert recorded["critic"]["units"] == models.local_critic_units("concat")
    result = loop.train(_config(data_dir, **{"train.steps": 4, **unset}), workdir)
    assert result.step == 4


def test_the_cache_cannot_change_under_the_default_full_shuffle(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    unset = {"train.steps": 2, "data.shuffle_buffer": None}
    loop.train(_config(data_dir, **unset), workdir)
    # The buffer stays the default one, whose size depends on the cache:
    # turning it off would change the stream.
    with pytest.raises(UserError, match="data.cache: True -> False"):
        loop.train(_config(data_dir, **{**unset, "data.cache": False}), workdir)
    explicit = str(tmp_path / "explicit")
    loop.train(_config(data_dir, **{"train.steps": 2}), explicit)  # Buffer 64.
    result = loop.train(
        _config(data_dir, **{"train.steps": 4, "data.cache": False}), explicit
    )
    assert result.step == 4


def test_a_different_config_is_refused_and_nothing_is_overwritten(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(_config(data_dir), workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = f.read()
    with pytest.raises(UserError) as err:
        loop.train(
            _config(data_dir, **{"objective.estimator": "nce", "y_dim": 4}), workdir
        )
    message = str(err.value)
    assert "objective.estimator" in message and "y_dim" in message
    assert "\n" not in message
    with open(os.path.join(workdir, "config.json")) as f:
        assert f.read() == recorded


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ({"data.dataset": "no_such_dataset"}, "no_such_dataset"),
        ({"encoder": "resnet"}, "basic32x32"),
        ({"objective.estimator": "mine"}, "jsd, nce, dv"),
        ({"objective.mode": "both"}, "local+global"),
        ({"objective.prior": "laplace"}, "uniform, gaussian, none"),
        ({"critic.kind": "bilinear"}, "dot"),
        ({"strategy": "horovod"}, "multi_worker"),
        ({"train.precision": "float8"}, "mixed_bfloat16"),
        ({"image_size": 64}, "basic64x64"),
        ({"strategy": "mirrored", "train.batch_size": 9}, "multiple of 2"),
        ({"train.batch_size": 1}, ">= 2"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    data_dir, tmp_path, overrides, expected
):
    workdir = str(tmp_path / "run")
    with pytest.raises(UserError) as err:
        loop.train(_config(data_dir, **overrides), workdir)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert not os.path.exists(workdir)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    data_dir, tmp_path, monkeypatch
):
    real_dataset = pipeline.make_train_dataset

    def poisoned_after_two_batches(
        data, image_size, batch, start_step=0, ctx=None, **kw
    ):
        ds = real_dataset(data, image_size, batch, start_step, ctx, **kw)
        good = ds.take(max(2 - start_step, 0))
        return good.concatenate(ds.map(lambda x: x * np.nan))

    monkeypatch.setattr(loop.pipeline, "make_train_dataset", poisoned_after_two_batches)
    workdir = str(tmp_path / "run")
    with pytest.raises(TrainingError, match="non-finite at step 3") as err:
        loop.train(_config(data_dir, **{"train.steps": 6}), workdir)
    assert "ckpt-2" in str(err.value)
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith(
        "ckpt-2"
    )


def _saved_train_seconds(checkpoint):
    return tf.train.load_checkpoint(checkpoint).get_tensor(
        "train_seconds/.ATTRIBUTES/VARIABLE_VALUE"
    )


def test_a_time_budget_stops_the_run_and_counts_across_reruns(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    checkpoints = os.path.join(workdir, "checkpoints")
    # 0.06 s: the first tf.function call (it traces) takes longer.
    budget = {"train.steps": 8, "train.max_minutes": 0.001}
    first = loop.train(_config(data_dir, **budget), workdir)
    assert first.step == 2 and first.checkpoint.endswith("ckpt-2")
    assert first.stopped_early.startswith("stopped at step 2 after ")
    assert "(train.max_minutes=0.001)" in first.stopped_early
    seconds = _saved_train_seconds(first.checkpoint)
    assert seconds >= 0.06
    files = sorted(os.listdir(checkpoints))

    again = loop.train(_config(data_dir, **budget), workdir)  # The budget is used.
    assert again.step == 2 and again.stopped_early is not None
    assert sorted(os.listdir(checkpoints)) == files

    larger = {"train.steps": 8, "train.max_minutes": 60.0}
    more = loop.train(_config(data_dir, **larger), workdir)
    assert more.step == 8 and more.stopped_early is None
    assert _saved_train_seconds(more.checkpoint) > seconds
