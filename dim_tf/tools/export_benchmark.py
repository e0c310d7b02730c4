"""How fast and how large each exported file of a run is, and what its probes score.

`bin/benchmark --workdir=DIR --exports`: every file `bin/export` recorded in
DIR/results.json, opened with its own runtime (`exporting.runtimes`), timed
per image at each batch size on the run's evaluation images; each probe
file's accuracy on the whole evaluation split.
"""

import os
import statistics
import time

import numpy as np

from dim_tf.evaluators import report
from dim_tf.exporting import runtimes
from dim_tf.input import eval_sets
from dim_tf.training import runs


def _size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return (
        sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, names in os.walk(path)
            for name in names
        )
        / 1e6
    )


def _ms_per_image(call, batch, seconds):
    """Median milliseconds per image of `call(batch)`, over at least `seconds`."""
    call(batch)  # Warm-up: first-call allocations and tracing.
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        begin = time.perf_counter()
        call(batch)
        times.append(time.perf_counter() - begin)
    return 1000 * statistics.median(times) / len(batch)


def _accuracy(call, images, labels, batch_size=64):
    predicted = np.concatenate(
        [
            call(images[i : i + batch_size])["class_ids"]
            for i in range(0, len(images), batch_size)
        ]
    )
    return float(np.mean(predicted == labels))


def benchmark_exports(workdir, batch_sizes=(1, 64), seconds=2.0, log=None):
    """Times every exported file of `workdir`.

    Args:
      workdir: a run directory `bin/export` wrote to.
      batch_sizes: the batch sizes timed (at most the evaluation split's size).
      seconds: the least time each measurement repeats calls for.
      log: callable taking a progress line, or None.

    Returns:
      `{"rows": [{"model", "format", "path", "size_mb", "ms_per_image":
      {batch size: ms}, "test_accuracy" (probes)}], "litert_quantize",
      "images"}`.
    """
    log = log or (lambda line: None)
    run = runs.load_run(workdir)
    results = report.read_results(workdir)
    examples = eval_sets.stored_examples(
        run.config.data, run.eval_split, run.image_size
    ).as_numpy_iterator()
    examples = list(examples)
    images = np.stack([e["image"] for e in examples])
    labels = np.array([e["label"] for e in examples])
    models = [("encoder", results.get("encoder_exports") or {})]
    models += [
        (f"probe_{p['kind']}_{p['tap']}", p["exports"])
        for p in results["probes"]
        if p.get("exports")
    ]
    rows = []
    for model, exports in models:
        for fmt, path in exports.items():
            call = runtimes.open_file(fmt, os.path.join(workdir, path))
            row = {
                "model": model,
                "format": fmt,
                "path": path,
                "size_mb": _size_mb(os.path.join(workdir, path)),
                "ms_per_image": {
                    size: _ms_per_image(call, images[:size], seconds)
                    for size in batch_sizes
                },
            }
            if model != "encoder":
                row["test_accuracy"] = _accuracy(call, images, labels)
            log(f"{path}: {row}")
            rows.append(row)
    return {
        "rows": rows,
        "litert_quantize": results.get("litert_quantize"),
        "images": len(images),
    }
