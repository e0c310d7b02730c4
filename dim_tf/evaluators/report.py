"""DIR/results.json (reading, writing; its fields: docs/usage.md) and the probe table."""

import os

from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import KINDS, TAPS

RESULTS_FILE = "results.json"
EVAL_LOGDIR = "eval"
# The lists of probe rows, of the trained encoder and under `random_encoder`.
_PROBE_LISTS = ("probes", "few_label_probes", "label_fraction_probes")
_ALL_LISTS = (*_PROBE_LISTS, *(f"random_encoder/{key}" for key in _PROBE_LISTS))
_NAME_WIDTH = 28  # Fits "random linear, 10% labels".


def build_results(run, results, num_train, num_test, pooled=None):
    """The results dict of an evaluation.

    Args:
      run: `dim_tf.training.runs.Run` that was evaluated.
      results: iterable of `dim_tf.evaluators.base.Result`, in order.
      num_train, num_test: examples the trained encoder's features were
        extracted from, of the eval train split and of the eval split.
      pooled: `Features.pooled` of the trained encoder's features, or None.
    """
    config = run.config
    sections = {key: [] for key in _ALL_LISTS}
    top, measures = {}, {}
    for result in results:
        if result.row is None:
            measures[result.name] = result.value
        elif result.section:
            sections.setdefault(result.section, []).append(result.row)
        else:
            top.update(result.row)
    # A plug-in's own lists of rows, beside the probe lists.
    top.update({k: rows for k, rows in sections.items() if k not in _ALL_LISTS})
    return {
        "dataset": config.data.dataset,
        "split": run.eval_split,
        "train_split": run.eval_train_split,
        "step": run.step,
        "checkpoint": os.path.relpath(run.checkpoint, run.workdir),
        "probes": [dict(row, export=None, exports=None) for row in sections["probes"]],
        **top,
        "encoder_export": None,
        "encoder_exports": None,
        "few_label_probes": sections["few_label_probes"],
        "label_fraction_probes": sections["label_fraction_probes"],
        "random_encoder": {
            key: sections[f"random_encoder/{key}"] for key in _PROBE_LISTS
        },
        "class_names": list(run.class_names),
        "num_train_examples": int(num_train),
        "num_test_examples": int(num_test),
        "pooled_features": {
            name: {"shape": list(shape), "pooled": list(to)}
            for name, (shape, to) in (pooled or {}).items()
        },
        "eval": config.eval.to_dict(),
        "tensorboard": EVAL_LOGDIR,
        **({"measures": measures} if measures else {}),
    }


def write_results(workdir, results):
    """Writes `results` to `DIR/results.json` atomically."""
    workdir_lib.write_json(os.path.join(workdir, RESULTS_FILE), results)


def read_results(workdir):
    """The results dict of `DIR/results.json`, or None when there is none."""
    return workdir_lib.read_json(
        os.path.join(workdir, RESULTS_FILE), remedy="rerun dim-evaluate (bin/evaluate)"
    )


def format_table(results, workdir=None):
    """The paper-shaped table (rows kinds, columns taps, top-1 %), then a line per other measure."""
    random = results.get("random_encoder", {})
    lines = [
        f"Probe accuracy (top-1 %) on {results['dataset']} '{results['split']}', "
        f"step {results['step']}:",
        f"{'':{_NAME_WIDTH}}" + "".join(f"{tap:>8}" for tap in TAPS),
    ]
    if not results.get("class_names"):
        lines = [
            f"No probes (the dataset has no labels); measured on "
            f"{results['dataset']} '{results['split']}', step {results['step']}:"
        ]

    def add_rows(name, rows, subset=lambda row: ""):
        """One line per kind (and subset) of `rows`, in `KINDS` order."""
        cells = {}
        for row in rows:
            if "test_accuracy" not in row:
                continue
            cells.setdefault((row["kind"], subset(row)), {})[row["tap"]] = row[
                "test_accuracy"
            ]
        for (kind, label), values in sorted(cells.items(), key=_kind_order):
            text = "".join(
                f"{100 * values[tap]:8.2f}" if tap in values else f"{'-':>8}"
                for tap in TAPS
            )
            lines.append(f"{(name + kind + label)[:_NAME_WIDTH]:{_NAME_WIDTH}}{text}")

    add_rows("", results["probes"])
    add_rows("random ", random.get("probes", []))
    for name, source in (("", results), ("random ", random)):
        add_rows(
            name,
            source.get("few_label_probes", []),
            lambda row: f", {row['labels_per_class']}/class",
        )
    for name, source in (("", results), ("random ", random)):
        add_rows(
            name,
            source.get("label_fraction_probes", []),
            lambda row: f", {100 * row['label_fraction']:g}% labels",
        )
    lines.append(
        f"MINE I(X; Y) {results['mine']:.3f} nats   NDM {results['ndm']:.3f} nats "
        f"(with sigmoid {results['ndm_sigmoid']:.3f})"
    )
    for name, shapes in results.get("pooled_features", {}).items():
        lines.append(
            f"{name}: {shape_text(shapes['shape'])} average-pooled to "
            f"{shape_text(shapes['pooled'])} (eval.max_tap_features)"
        )
    for name, value in results.get("measures", {}).items():
        lines.append(f"{name} {value:.4g}")
    if "decoder" in results:
        decoder = results["decoder"]
        lines.append(
            f"MS-SSIM (decoder on Y) {decoder['ms_ssim']:.3f}   "
            f"MSE {decoder['mse']:.4f} (pixels in [0, 1])"
        )
    if workdir is not None:
        lines.append(f"Results: {os.path.join(workdir, RESULTS_FILE)}")
        lines.append(
            f"TensorBoard (neighbours, projector, local MI maps): "
            f"tensorboard --logdir {workdir}"
        )
    return "\n".join(lines)


def shape_text(shape):
    """`(7, 7, 2048)` -> "7x7x2048"."""
    return "x".join(str(int(n)) for n in shape)


def _kind_order(cell):
    """Table rows by kind: the built-ins' `KINDS` order, then plug-ins' by name."""
    kind = cell[0][0]
    return (KINDS.index(kind), "") if kind in KINDS else (len(KINDS), kind)
