"""`train.precision=auto`: chosen on each start by the hardware, said, and resumable across."""

import json
import os

import pytest
import tensorflow as tf

from dim_tf.config import default_config
from dim_tf.evaluators import evaluation
from dim_tf.tools import machine
from dim_tf.training import loop, precision
from tests.events import event_texts
from tests.tiny import tiny_eval_config

CPU_WITH_UNITS = machine.Bfloat16Units(True, "forced: bfloat16 units")
CPU_WITHOUT = machine.Bfloat16Units(False, "forced: no bfloat16 units")


def _force(monkeypatch, units):
    monkeypatch.setattr(machine, "bfloat16_units", lambda: units)


def test_auto_is_the_default_of_training_and_of_the_evaluation():
    config = default_config()
    assert config.train.precision == "auto"
    assert config.eval.knn.precision == config.eval.mlp.precision == "auto"


@pytest.mark.parametrize(
    "units, policy", [(CPU_WITH_UNITS, "mixed_bfloat16"), (CPU_WITHOUT, "float32")]
)
def test_auto_follows_the_detected_units_and_says_why(monkeypatch, units, policy):
    _force(monkeypatch, units)
    resolved = precision.resolve("auto")
    assert resolved.policy == policy
    assert resolved.reason == f"train.precision=auto: {units.reason}"


def test_a_set_precision_is_kept_whatever_the_hardware(monkeypatch):
    _force(monkeypatch, CPU_WITH_UNITS)
    for policy in ("float32", "mixed_float16"):
        assert precision.resolve(policy) == (policy, f"train.precision={policy}")


@pytest.mark.parametrize(
    "speedup, native", [(1.9, True), (1.5, True), (1.2, False), (0.5, False)]
)
def test_a_cpu_has_units_where_its_bfloat16_products_are_faster(
    monkeypatch, speedup, native
):
    monkeypatch.setattr(machine, "bfloat16_speedup", lambda: speedup)
    units = machine.bfloat16_units()
    assert units.native is native
    assert f"{speedup:.1f}x" in units.reason


@pytest.mark.parametrize(
    "capabilities, native",
    [([(8, 0)], True), ([(9, 0), (8, 6)], True), ([(8, 6), (7, 5)], False)],
)
def test_a_gpu_has_units_from_compute_capability_8(monkeypatch, capabilities, native):
    gpus = [f"GPU:{i}" for i in range(len(capabilities))]
    details = dict(zip(gpus, capabilities))
    real_list = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: gpus if kind == "GPU" else real_list(kind),
    )
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda gpu: {"compute_capability": details[gpu]},
    )
    monkeypatch.setattr(machine, "bfloat16_speedup", pytest.fail)  # No CPU test.
    units = machine.bfloat16_units()
    assert units.native is native
    lowest = min(capabilities)
    assert f"compute capability {lowest[0]}.{lowest[1]}" in units.reason


def _start(workdir):
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = json.load(f)
    assert recorded["train"]["precision"] == "auto"  # The setting, not its choice.
    return recorded["start"]


def test_a_run_resumes_and_evaluates_where_auto_chooses_otherwise(
    data_dir, tmp_path, monkeypatch, capsys
):
    workdir = str(tmp_path / "run")
    starts = [(CPU_WITH_UNITS, 2), (CPU_WITHOUT, 4), (CPU_WITH_UNITS, 6)]
    for units, steps in starts:
        _force(monkeypatch, units)
        config = tiny_eval_config(
            data_dir,
            **{
                "train.steps": steps,
                "train.precision": "auto",
                "eval.knn.precision": "auto",
            },
        )
        result = loop.train(config, workdir)
        assert result.step == steps
        policy = "mixed_bfloat16" if units.native else "float32"
        assert _start(workdir) == {
            "step": steps - 2,
            "precision": policy,
            "precision_reason": f"train.precision=auto: {units.reason}",
        }
        line = f"precision: {policy} (train.precision=auto: {units.reason})"
        assert line in capsys.readouterr().err
    texts = event_texts(os.path.join(workdir, "train"), "precision")
    assert sorted(texts) == [0, 2, 4]
    assert "mixed_bfloat16" in texts[0] and "float32" in texts[2]

    # The evaluation's own `auto` precisions are chosen where it runs.
    for units, dtype in [(CPU_WITHOUT, "float32"), (CPU_WITH_UNITS, "bfloat16")]:
        _force(monkeypatch, units)
        lines = []
        results = evaluation.evaluate(
            workdir, taps="y", kinds="knn", random_baseline=False, log=lines.append
        )
        assert results["step"] == 6
        assert [row["precision"] for row in results["probes"]] == [dtype]
        expected = f"precision: eval.knn.precision=auto -> {dtype} ({units.reason})"
        assert expected in lines
