"""`benchmark_evaluation(workdir)`: how long `bin/evaluate` takes on a run, part by part.

The float32 matmul rate before and after says how much of a shared CPU the
evaluation had.
"""

from dim_tf.evaluators import cpu, evaluation
from dim_tf.evaluators.progress import Progress
from dim_tf.tools import machine


def benchmark_evaluation(workdir, log=None):
    """Evaluates the run in `workdir` as `bin/evaluate` does, timing every part.

    Args:
      workdir: a trained run's directory.
      log: callable taking a progress line, or None.

    Returns:
      A flat JSON-serialisable dict; the keys are listed in `bin/benchmark --help`.

    Raises:
      UserError: as `bin/evaluate`.
    """
    load_before = machine.load_average()
    matmul_before = _matmul_rate()
    cpu_start = machine.process_cpu_seconds()
    progress = Progress(log, cpu_clock=machine.process_cpu_seconds)
    results = evaluation.evaluate(workdir, progress=progress)
    total = progress.total_seconds

    def rounded(seconds):
        return {name: round(value, 2) for name, value in seconds.items()}

    return {
        "workdir": workdir,
        "dataset": results["dataset"],
        "step": results["step"],
        "num_train_examples": results["num_train_examples"],
        "num_test_examples": results["num_test_examples"],
        "seconds": rounded(progress.seconds),
        "cpu_seconds": rounded(progress.cpu_seconds),
        "evaluator_seconds": rounded(progress.evaluator_seconds),
        "total_s": round(total, 1),
        "cpu_s": round(machine.process_cpu_seconds() - cpu_start, 1),
        "values": {name: round(value, 5) for name, value in progress.values.items()},
        "peak_rss_mb": round(machine.peak_rss_mb(), 1),
        **machine.device_description(),
        "eval": results["eval"],
        "load_average": [load_before, machine.load_average()],
        "matmul_gflops": [matmul_before, _matmul_rate()],
    }


def _matmul_rate():
    """The whole CPU's float32 GFLOP/s of [2048, 2048] products now.

    Where each operation runs on fewer threads than cores (bin/evaluate's
    `cpu.share_cores`), the sum of `cpu.parallel_calls()`
    measurements run at the same time, each its best round: the whole
    CPU's rate (rounds that did not overlap exactly can overstate it a
    little).
    """
    rates = cpu.map_concurrently(
        lambda _: machine.matmul_gflops("float32", 2048, repeats=3, min_seconds=0.3),
        range(cpu.parallel_calls()),
    )
    return round(sum(rates), 1)
