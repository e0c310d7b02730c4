"""`train()` end to end on the embedded digits: workdir, resume, refusals, divergence."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf.errors import TrainingError, UserError
from dim_tf.input import pipeline
from dim_tf.training import build, loop, trainer
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
    assert health | {"loss", "mi/local", "y"} <= set(tags)
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


def test_a_workdir_recorded_before_the_data_section_resumes(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(_config(data_dir, **{"train.steps": 2}), workdir)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        recorded = json.load(f)
    # The layout of earlier versions: data fields at the top and in `train`.
    data = recorded.pop("data")
    for name in config_lib.LEGACY_TOP_LEVEL:
        recorded[name] = data.pop(name)
    recorded["train"].update(data)
    with open(path, "w") as f:
        json.dump(recorded, f)
    # The same command, to more steps: compared after migration, it resumes.
    result = loop.train(_config(data_dir, **{"train.steps": 4}), workdir)
    assert result.step == 4
    with open(path) as f:
        rewritten = json.load(f)
    assert "dataset" not in rewritten and "shuffle_buffer" not in rewritten["train"]
    assert rewritten["data"]["shuffle_buffer"] == 64


def test_a_run_recorded_with_the_old_defaults_resumes_with_them(data_dir, tmp_path):
    """Before `None` defaults: buffer 10,000 and 2048 units were recorded."""
    workdir = str(tmp_path / "run")
    old = {"data.shuffle_buffer": 10_000, "critic.kind": "concat", "critic.units": 16}
    loop.train(_config(data_dir, **{"train.steps": 2, **old}), workdir)
    # The same command today leaves both unset: the run goes on as recorded.
    unset = {"data.shuffle_buffer": None, "critic.kind": "concat", "critic.units": None}
    config = _config(data_dir, **{"train.steps": 4, **unset})
    result = loop.train(config, workdir)
    assert result.step == 4
    assert config.data.shuffle_buffer == 10_000 and config.critic.units == 16
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = json.load(f)
    assert recorded["data"]["shuffle_buffer"] == 10_000
    assert recorded["critic"]["units"] == 16


def test_the_cache_cannot_change_under_the_default_full_shuffle(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    unset = {"train.steps": 2, "data.shuffle_buffer": None}
    loop.train(_config(data_dir, **unset), workdir)
    # The recorded None is adopted back, so the buffer stays the default one,
    # whose size depends on the cache: turning it off would change the stream.
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
        ({"dataset": "no_such_dataset"}, "no_such_dataset"),
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


def test_a_time_budget_stops_the_run_and_counts_across_reruns(
    data_dir, tmp_path, monkeypatch
):
    """Starting from a checkpoint written before the budget's variable existed."""
    workdir = str(tmp_path / "run")
    checkpoints = os.path.join(workdir, "checkpoints")
    items = trainer.Trainer.checkpoint_items
    monkeypatch.setattr(
        trainer.Trainer,
        "checkpoint_items",
        lambda self: {k: v for k, v in items(self).items() if k != "train_seconds"},
    )
    old = loop.train(_config(data_dir, **{"train.steps": 2}), workdir)
    assert "train_seconds" not in {
        name.split("/")[0] for name, _ in tf.train.list_variables(old.checkpoint)
    }
    monkeypatch.undo()

    # 0.06 s: the first tf.function call (it traces) takes longer.
    budget = {"train.steps": 8, "train.max_minutes": 0.001}
    first = loop.train(_config(data_dir, **budget), workdir)
    assert first.step == 4 and first.checkpoint.endswith("ckpt-4")
    assert first.stopped_early.startswith("stopped at step 4 after ")
    assert "(train.max_minutes=0.001)" in first.stopped_early
    seconds = _saved_train_seconds(first.checkpoint)
    assert seconds >= 0.06
    files = sorted(os.listdir(checkpoints))

    again = loop.train(_config(data_dir, **budget), workdir)  # The budget is used.
    assert again.step == 4 and again.stopped_early is not None
    assert sorted(os.listdir(checkpoints)) == files

    larger = {"train.steps": 8, "train.max_minutes": 60.0}
    more = loop.train(_config(data_dir, **larger), workdir)
    assert more.step == 8 and more.stopped_early is None
    assert _saved_train_seconds(more.checkpoint) > seconds
