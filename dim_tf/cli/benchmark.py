"""dim-benchmark (bin/benchmark): times a config's training, or a run's evaluation.

    dim-benchmark --config=PATH/configs/NAME.py [--config.FIELD=VALUE ...]
    dim-benchmark --workdir=DIR
    dim-benchmark --workdir=DIR --exports

Prints one JSON line on stdout (everything else goes to stderr).

With --config: the training step and input pipeline. Keys include
images_per_s, step_ms, gflop_per_image (counted from the step's graph),
achieved_gflops, pipeline_images_per_s, peak_rss_mb, device, xla, precision
(the setting), precision_resolved (the policy it computes in here) and
precision_reason; matmul_peak_gflops (this machine's float32 / bfloat16
matmul rates) and fraction_of_matmul_peak (the step's achieved rate over its
dtype's) unless --nomatmul_peak. When the precision resolves to other than
float32 (`auto` on bfloat16 hardware), `float32` holds the same step's
figures in float32 and speedup_over_float32 the ratio (--nocompare_float32
skips it). Nothing is written to disk except a prepared dataset.

With --workdir: the evaluation bin/evaluate runs on that trained run (its
`eval` settings; it writes what bin/evaluate writes), timed part by part.
Keys: seconds (per part: load, features/trained, probe/linear_conv, ...,
views, features/random, random/probe/linear_conv, ..., save),
cpu_seconds, evaluator_seconds, total_s, cpu_s, values (every measured
accuracy and estimate), peak_rss_mb, load_average and matmul_gflops (the
machine's float32 rate before and after), the dataset's sizes and the
eval settings.

With --workdir and --exports: every file bin/export wrote for that run,
opened with its own runtime. Keys: rows (per file: model, format, path,
size_mb, ms_per_image per batch size, a probe's test_accuracy on the whole
evaluation split), litert_quantize, images.
"""

import contextlib
import json
import sys

from absl import flags
from ml_collections import config_flags

from dim_tf import cli
from dim_tf.config import check_config
from dim_tf.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/cifar10_local_jsd.py.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir",
    None,
    "Time bin/evaluate on this trained run instead of a config's training step.",
)
_EXPORTS = flags.DEFINE_bool(
    "exports",
    False,
    "With --workdir: time the files bin/export wrote instead of the evaluation.",
)
_MATMUL_PEAK = flags.DEFINE_bool(
    "matmul_peak",
    True,
    "Measure float32/bfloat16 matmul GFLOP/s and each step's fraction of its dtype's.",
)
_COMPARE_FLOAT32 = flags.DEFINE_bool(
    "compare_float32",
    True,
    "Also time the step in float32 when the precision resolves to another.",
)
_MATMUL_SIZE = flags.DEFINE_integer("matmul_size", 4096, "Side of the square matmuls.")
_WARMUP_CALLS = flags.DEFINE_integer("warmup_calls", 1, "Untimed step calls first.")
_TIMED_CALLS = flags.DEFINE_integer("timed_calls", 3, "Timed calls (median counts).")
_PIPELINE_BATCHES = flags.DEFINE_integer(
    "pipeline_batches", 50, "Batches the input pipeline is timed over (0 skips)."
)


def _benchmark(argv):
    cli.reject_extra_arguments(argv)
    if _EXPORTS.value and _WORKDIR.value is None:
        raise UserError("--exports needs --workdir=DIR: the run whose exports to time")
    if _WORKDIR.value is not None and _EXPORTS.value:
        return _benchmark_exports()
    if _WORKDIR.value is not None:
        return _benchmark_evaluation()
    config = _CONFIG.value
    if config is None:
        raise UserError(
            "--config is required: a config file such as configs/quickstart.py "
            "(or --workdir=DIR to time the evaluation of a trained run)"
        )
    check_config(config)  # Before TensorFlow is imported, as dim-train does.
    cli.start_tensorflow()
    from dim_tf.tools.benchmark import benchmark

    # stdout carries the JSON line only; TFDS prints its progress there.
    with contextlib.redirect_stdout(sys.stderr):
        result = benchmark(
            config,
            warmup_calls=_WARMUP_CALLS.value,
            timed_calls=_TIMED_CALLS.value,
            pipeline_batches=_PIPELINE_BATCHES.value,
            matmul_peak=_MATMUL_PEAK.value,
            matmul_size=_MATMUL_SIZE.value,
            compare_float32=_COMPARE_FLOAT32.value,
        )
    result["config"] = config_flags.get_config_filename(flags.FLAGS["config"])
    print(json.dumps(result, sort_keys=True), flush=True)


def _benchmark_evaluation():
    if _CONFIG.value is not None:
        raise UserError(
            "--config and --workdir exclude each other: --workdir times the "
            "evaluation of a run with the eval settings it recorded"
        )
    cli.start_tensorflow()
    from dim_tf.evaluators.evaluation import use_cores_for
    from dim_tf.tools.eval_benchmark import benchmark_evaluation

    use_cores_for(_WORKDIR.value)  # As bin/evaluate runs it.
    with contextlib.redirect_stdout(sys.stderr):
        result = benchmark_evaluation(_WORKDIR.value, log=cli.progress)
    print(json.dumps(result, sort_keys=True), flush=True)


def _benchmark_exports():
    cli.start_tensorflow()
    from dim_tf.tools.export_benchmark import benchmark_exports

    with contextlib.redirect_stdout(sys.stderr):
        result = benchmark_exports(_WORKDIR.value, log=cli.progress)
    print(json.dumps(result, sort_keys=True), flush=True)


def main():
    """The console script: parses sys.argv, benchmarks, exits (2 on a user's mistake)."""
    cli.run(_benchmark, flags.FLAGS)


if __name__ == "__main__":
    main()
