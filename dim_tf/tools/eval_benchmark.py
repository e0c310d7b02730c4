"""`benchmark_evaluation(workdir)`: how long `bin/evaluate` takes on a run, part by part.

Runs the evaluation `bin/evaluate --workdir=DIR` runs (same evaluators,
`dim_tf.evaluators.registry.plan` of the run's `eval` settings, same files
written) and returns, as one flat JSON-serialisable dict, the seconds of
each part (`dim_tf.evaluators.progress`): the run's loading, each feature
pass, each evaluator's results one by one (a probe on one tap, MINE, ...),
the views and the saving; the seconds per evaluator and in total; every
measured value; the process's peak memory and the machine's load, and
the float32 matmul rate just before and after (`dim_tf.tools.machine`): on
a machine shared with other processes it says how much of the CPU the
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
      A flat dict: "seconds" (part -> s), "cpu_seconds" (part -> CPU s of
      this process, all threads: less sensitive to other processes),
      "evaluator_seconds" (evaluator ->
      s; "random/NAME" for the random encoder's), "total_s", "cpu_s" (process
      CPU time, all threads), "values" (result name -> value, e.g.
      "probe/linear_conv" -> test accuracy), "peak_rss_mb", the dataset, its
      sizes, the step, the eval settings, the device, "load_average"
      (1-minute) and "matmul_gflops" (float32), before and after.

    Raises:
      UserError: as `bin/evaluate` (no run, no checkpoint, bad settings, ...).
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
    """float32 GFLOP/s of [2048, 2048] products now (about two seconds).

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
