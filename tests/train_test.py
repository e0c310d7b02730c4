"""`train()` end to end on the embedded digits: workdir, resume, refusals, divergence."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf.errors import TrainingError, UserError
from dim_tf.input import pipeline
from dim_tf.training import build, loop
from tests.tiny import tiny_config


def _config(data_dir, **overrides):
    return tiny_config(**{"data_dir": data_dir, **overrides})


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
    assert os.listdir(os.path.join(workdir, "train"))  # TensorBoard events.


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
