"""bin/benchmark on a tiny config: one JSON line whose figures are consistent."""

import json
import sys

import pytest

from dim_tf.errors import UserError
from dim_tf.tools import benchmark, machine
from tests import processes
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow

BATCH = 8
CRITIC_UNITS = 16
Y_DIM = 8


def _benchmark(*args):
    return processes.run(
        [sys.executable, "bin/benchmark", "--config=configs/quickstart.py", *args]
    )


def _matmul_flop_per_image():
    """2 m n k of every product in basic28x28 + the 16-unit dot critic, per image.

    Forward, then two products per forward product in the backward pass
    (inputs and weights), except the first convolution's input gradient.
    """
    conv1 = 14 * 14 * 64 * (5 * 5 * 1)  # [28,28,1] -> [14,14,64], 5x5
    conv2 = 7 * 7 * 128 * (5 * 5 * 64)  # -> [7,7,128]
    fc = 7 * 7 * 128 * 1024
    y = 1024 * Y_DIM
    locations = 7 * 7
    critic = locations * (128 * CRITIC_UNITS * 2 + CRITIC_UNITS * CRITIC_UNITS)
    critic += Y_DIM * CRITIC_UNITS * 2 + CRITIC_UNITS * CRITIC_UNITS
    scores = BATCH * locations * CRITIC_UNITS
    forward = conv1 + conv2 + fc + y + critic + scores
    return 2 * (3 * forward - conv1)


def test_benchmark_prints_one_consistent_json_line(tmp_path):
    result = _benchmark(
        f"--config.data.data_dir={tmp_path / 'tfds'}",
        f"--config.train.batch_size={BATCH}",
        f"--config.critic.units={CRITIC_UNITS}",
        f"--config.y_dim={Y_DIM}",
        "--config.train.steps_per_call=2",
        "--warmup_calls=1",
        "--timed_calls=2",
        "--pipeline_batches=5",
        "--matmul_size=128",
        "--config.train.precision=float32",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    report = json.loads(lines[0])

    assert report["device"] == "cpu" and report["cores"] >= 1
    assert report["precision"] == "float32" and report["xla"] is False
    assert report["precision_resolved"] == "float32"
    assert report["precision_reason"] == "train.precision=float32"
    assert "float32" not in report  # Nothing to compare with.
    assert report["batch_size"] == BATCH and report["image_shape"] == [28, 28, 1]
    assert report["images_per_s"] > 0
    assert report["step_ms"] == pytest.approx(
        1000 * BATCH / report["images_per_s"], rel=0.01
    )
    # The counted operations include every matrix product and a little more
    # (elementwise ops, normalisation, the prior discriminator).
    analytic = _matmul_flop_per_image() / 1e9
    assert analytic <= report["gflop_per_image"] <= 1.6 * analytic
    assert report["achieved_gflops"] == pytest.approx(
        report["gflop_per_image"] * report["images_per_s"], rel=0.01
    )
    peaks = report["matmul_peak_gflops"]
    assert set(peaks) == {"float32", "bfloat16"} and min(peaks.values()) > 0
    # Each timed call against a peak measured just before it, so the median
    # fraction is near (not exactly) achieved / best peak.
    assert 0 < report["fraction_of_matmul_peak"]
    assert report["fraction_of_matmul_peak"] >= (
        0.5 * report["achieved_gflops"] / peaks["float32"]
    )
    assert report["step_ms_min"] <= report["step_ms"] and report["step_cpu_ms"] > 0
    assert report["pipeline_skipped"] is None
    assert report["pipeline_images_per_s"] > 0
    assert report["pipeline_to_step_ratio"] == pytest.approx(
        report["pipeline_images_per_s"] / report["images_per_s"], rel=0.01
    )
    assert 100 < report["peak_rss_mb"] <= report["peak_rss_mb_with_pipeline"]


def test_auto_is_timed_beside_float32_where_it_resolves_to_bfloat16(
    data_dir, monkeypatch
):
    units = machine.Bfloat16Units(True, "forced")
    monkeypatch.setattr(machine, "bfloat16_units", lambda: units)
    monkeypatch.setattr(machine, "matmul_gflops", lambda *args, **kwargs: 100.0)
    config = tiny_config(
        **{
            "data.data_dir": data_dir,
            "train.steps_per_call": 1,
            "train.precision": "auto",
        }
    )
    report = benchmark.benchmark(
        config, timed_calls=1, pipeline_batches=0, matmul_peak=True, matmul_size=64
    )
    assert report["precision"] == "auto"
    assert report["precision_reason"] == "train.precision=auto: forced"
    # The fraction of the (here constant) matmul rate measured beside the step.
    assert report["fraction_of_matmul_peak"] == pytest.approx(
        report["achieved_gflops"] / 100, rel=0.02
    )
    assert report["precision_resolved"] == "mixed_bfloat16"
    float32 = report["float32"]
    assert float32["fraction_of_matmul_peak"] == pytest.approx(
        float32["achieved_gflops"] / 100, rel=0.02
    )
    assert float32["achieved_gflops"] == pytest.approx(
        report["gflop_per_image"] * float32["images_per_s"], rel=0.01
    )
    assert report["speedup_over_float32"] == pytest.approx(
        report["images_per_s"] / float32["images_per_s"], rel=0.01
    )


def test_bad_config_is_one_line_error():
    result = _benchmark("--config.encoder=resnet")
    processes.assert_one_line_error(result, "resnet")
    assert result.stdout == ""


def test_dataset_that_is_not_prepared_is_skipped_with_the_reason(monkeypatch, tmp_path):
    def not_prepared(name, data_dir=None, manual_dir=None):
        raise UserError(f"dataset {name!r} is not prepared")

    monkeypatch.setattr(benchmark.sources, "dataset_info", not_prepared)
    config = tiny_config(**{"data.dataset": "cifar10", "data.data_dir": str(tmp_path)})
    channels, skipped = benchmark._dataset_channels(config)
    assert channels == 3  # From the TFDS builder's metadata.
    assert skipped == "dataset 'cifar10' is not prepared"

    with pytest.raises(UserError, match="no_such_set"):
        benchmark._dataset_channels(
            tiny_config(
                **{"data.dataset": "no_such_set", "data.data_dir": str(tmp_path)}
            )
        )
