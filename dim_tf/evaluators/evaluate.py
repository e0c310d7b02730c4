"""`evaluate(workdir)`: the paper's measures of a trained run, in DIR/results.json.

For the latest checkpoint of a run:

1. probes (`dim_tf.evaluators.probes`) on each tap: linear and MLP classifiers on frozen
   features and the fine-tuned ("SS") classifier, trained on
   `config.data.eval_train_split`, measured on `config.data.eval_split`;
2. the same linear probes on a randomly initialised encoder of the same
   architecture, as a baseline;
3. MINE's I(X; Y) and NDM of Y, with and without a sigmoid
   (`mine_estimate`, `ndm_estimate`, on the eval split);
4. TensorBoard views (`dim_tf.evaluators.views`) in `DIR/eval`;
5. `DIR/results.json` (written atomically) and the trained probes in
   `DIR/probes/` (`dim_tf.evaluators.probe_store`), from which `dim_tf.export` builds
   the SavedModels.

`probe_during_training` measures frozen probes, MINE and NDM every
`config.eval.every` steps of training, as TensorBoard curves in `DIR/eval`.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import probe_store, probes, views
from dim_tf.evaluators.mi import mine_estimate, ndm_estimate
from dim_tf.input import pipeline, read_errors
from dim_tf.training import runs, strategies

__all__ = [
    "evaluate",
    "format_table",
    "mine_estimate",
    "ndm_estimate",
    "periodic_evaluation",
    "probe_during_training",
    "read_results",
]

RESULTS_FILE = "results.json"
EVAL_LOGDIR = "eval"
_BATCH = 256  # Images per batch when computing features (memory, not results).


def evaluate(workdir, taps=None, kinds=None, random_baseline=None, log=None, run=None):
    """Measures the run in `workdir` at its latest checkpoint; writes results.json.

    Args:
      workdir: run directory written by `dim_tf.training.loop.train`.
      taps: comma-separated taps to probe (None = `config.eval.taps`).
      kinds: comma-separated probe kinds (None = `config.eval.kinds`).
      random_baseline: also probe a random encoder (None = the config's).
      log: callable taking a progress line, or None.
      run: an already loaded `dim_tf.training.runs.Run` of `workdir`, or None.

    Returns:
      The results dict written to `DIR/results.json` (see README.md).

    Raises:
      UserError: missing workdir, no checkpoint, unknown tap or kind, a bad
        `eval` setting, or data that cannot be loaded.
    """
    log = log or (lambda line: None)
    # Names given by the caller are checked before the (slower) run is loaded.
    taps = taps and probes.parse_names(taps, probes.TAPS, "tap")
    kinds = kinds and probes.parse_names(kinds, probes.KINDS, "probe kind")
    run = run or runs.load_run(workdir)
    eval_config = run.config.eval
    config_lib.check_eval_config(eval_config)
    taps = taps or probes.parse_names(eval_config.taps, probes.TAPS, "tap")
    kinds = kinds or probes.parse_names(eval_config.kinds, probes.KINDS, "probe kind")
    if random_baseline is None:
        random_baseline = eval_config.random_baseline
    config = run.config
    log(f"Evaluating {workdir} at step {run.step} on {config.data.dataset}")

    # Damaged files surface while the features or fine-tuned probes read them.
    with read_errors.reading("evaluation data"):
        train_features, test_features = _features(run, run.encoder, taps)
        rows, to_save = _probes(run, taps, kinds, train_features, test_features, log)
        few = _few_label_rows(taps, train_features, test_features, run, eval_config)
        baseline = {"probes": [], "few_label_probes": []}
        if random_baseline:
            log("Linear probes on a randomly initialised encoder")
            keras.utils.set_random_seed(eval_config.seed + 1)
            random_train, random_test = _features(run, run.fresh_encoder(), taps)
            baseline["probes"] = _frozen_rows(
                ("linear",),
                taps,
                random_train,
                random_test,
                run.num_classes,
                eval_config,
            )[0]
            baseline["few_label_probes"] = _few_label_rows(
                taps, random_train, random_test, run, eval_config
            )
        log("MINE and NDM")
        measures = dependence_measures(train_features, test_features, eval_config)
        log("TensorBoard views")
        write_views(run, test_features)
    probe_store.save(workdir, run.step, rows, to_save)
    results = {
        "dataset": config.data.dataset,
        "split": config.data.eval_split,
        "train_split": config.data.eval_train_split,
        "step": run.step,
        "checkpoint": os.path.relpath(run.checkpoint, workdir),
        "probes": [dict(row, export=None) for row in rows],
        **measures,
        "encoder_export": None,
        "few_label_probes": few,
        "random_encoder": baseline,
        "class_names": list(run.class_names),
        "num_train_examples": int(len(train_features.labels)),
        "num_test_examples": int(len(test_features.labels)),
        "eval": eval_config.to_dict(),
        "tensorboard": EVAL_LOGDIR,
    }
    workdir_lib.write_json(os.path.join(workdir, RESULTS_FILE), results)
    return results


def read_results(workdir):
    """The results dict of `DIR/results.json`, or None when there is none."""
    return workdir_lib.read_json(
        os.path.join(workdir, RESULTS_FILE), remedy="rerun bin/evaluate"
    )


def dependence_measures(train, test, eval_config):
    """`{"mine", "ndm", "ndm_sigmoid"}` in nats: fitted on `train`, measured on `test`.

    Args:
      train, test: `probes.Features` with the "y" tap and images kept (the
        first `eval.measure_examples` of each are used).
      eval_config: `config.eval` (mine_steps, ndm_steps, measure_examples, seed).
    """

    def x_and_y(features):
        count = min(len(features.images), eval_config.measure_examples)
        return features.images[:count].reshape(count, -1), features.taps["y"][:count]

    (x, y), (x_test, y_test) = x_and_y(train), x_and_y(test)
    seed = eval_config.seed
    ndm_steps = eval_config.ndm_steps
    return {
        "mine": mine_estimate(
            x, y, eval_config.mine_steps, seed, held_out=(x_test, y_test)
        ),
        "ndm": ndm_estimate(y, ndm_steps, seed, held_out=y_test),
        "ndm_sigmoid": ndm_estimate(
            _sigmoid(y), ndm_steps, seed, held_out=_sigmoid(y_test)
        ),
    }


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def write_views(run, features, step=None):
    """Writes the TensorBoard views of `dim_tf.evaluators.views` to `DIR/eval`.

    The two image views are also saved as `DIR/eval/neighbours.png` and
    `DIR/eval/local_mi_map.png`.

    Args:
      run: `dim_tf.training.runs.Run`.
      features: `probes.Features` of the eval split with "y" and images kept.
      step: the summaries' step (None = the run's).
    """
    eval_config = run.config.eval
    step = run.step if step is None else step
    logdir = os.path.join(run.workdir, EVAL_LOGDIR)
    images, labels, y = features.images, features.labels, features.taps["y"]
    count = len(images)
    writer = tf.summary.create_file_writer(logdir)
    try:
        grid = views.neighbour_grid(
            images,
            labels[:count],
            y[:count],
            eval_config.neighbour_queries,
            eval_config.neighbours,
        )
        with writer.as_default(step=step):
            tf.summary.image("neighbours", grid[None], step=step)
        views.save_png(grid, os.path.join(logdir, "neighbours.png"))
        views.write_code_histograms(writer, step, y, run.config.objective.prior)
        critic = run.trainer.local_critic
        if critic is not None:
            shown = images[: eval_config.map_images]
            maps = views.positive_local_scores(run.encoder, critic, shown)
            grid = views.local_mi_grid(shown, maps)
            with writer.as_default(step=step):
                tf.summary.image("local_mi_map", grid[None], step=step)
            views.save_png(grid, os.path.join(logdir, "local_mi_map.png"))
    finally:
        writer.close()
    shown = min(count, eval_config.projector_examples)
    views.write_projector(
        logdir, y[:shown], labels[:shown], run.class_names, images[:shown]
    )


def format_table(results, workdir=None):
    """The paper-shaped table: rows probe kinds, columns taps, top-1 accuracy %."""
    cells = {(p["kind"], p["tap"]): p["test_accuracy"] for p in results["probes"]}
    random_cells = {
        (p["kind"], p["tap"]): p["test_accuracy"]
        for p in results.get("random_encoder", {}).get("probes", [])
    }
    lines = [
        f"Probe accuracy (top-1 %) on {results['dataset']} '{results['split']}', "
        f"step {results['step']}:",
        f"{'':24}" + "".join(f"{tap:>8}" for tap in probes.TAPS),
    ]

    def row(name, values, kind):
        text = "".join(
            f"{100 * values[(kind, tap)]:8.2f}"
            if (kind, tap) in values
            else f"{'-':>8}"
            for tap in probes.TAPS
        )
        return f"{name:24}{text}"

    for kind in probes.KINDS:
        if any(k == kind for k, _ in cells):
            lines.append(row(kind, cells, kind))
    if random_cells:
        lines.append(row("random linear", random_cells, "linear"))
    for name, few in (
        ("linear", results.get("few_label_probes", [])),
        (
            "random linear",
            results.get("random_encoder", {}).get("few_label_probes", []),
        ),
    ):
        if few:
            values = {(p["kind"], p["tap"]): p["test_accuracy"] for p in few}
            per_class = few[0]["labels_per_class"]
            lines.append(row(f"{name}, {per_class}/class", values, "linear"))
    lines.append(
        f"MINE I(X; Y) {results['mine']:.3f} nats   NDM {results['ndm']:.3f} nats "
        f"(with sigmoid {results['ndm_sigmoid']:.3f})"
    )
    if workdir is not None:
        lines.append(f"Results: {os.path.join(workdir, RESULTS_FILE)}")
        lines.append(
            f"TensorBoard (neighbours, projector, local MI maps): "
            f"tensorboard --logdir {workdir}"
        )
    return "\n".join(lines)


def periodic_evaluation(config, workdir):
    """The training-loop action that runs `probe_during_training` (`eval.every`).

    Returns:
      A callable `action(trainer, step, steps_done)` for
      `dim_tf.training.loop.train(..., actions=[...])`.
    """

    def action(trainer, step, steps_done):
        probe_during_training(config, trainer, workdir, step, steps_done)

    return action


def probe_during_training(config, trainer, workdir, step, steps_done):
    """Frozen probes, MINE and NDM as TensorBoard curves, every `eval.every` steps.

    Called by the training loop after each `tf.function` call; measures when
    the last `steps_done` steps crossed a multiple of `config.eval.every`
    (on the chief only). Scalars go to `DIR/eval`: `probe/{kind}_{tap}`
    (test accuracy), `mi/mine`, `ndm`, `ndm_sigmoid`.

    Args:
      config: the run's ConfigDict.
      trainer: the run's `dim_tf.training.trainer.Trainer`.
      workdir: the run directory.
      step: training steps done.
      steps_done: steps of the call that just ended.

    Returns:
      The measured scalars, or None when nothing was due.
    """
    every = config.eval.every
    if not every or step // every == (step - steps_done) // every:
        return None
    if not strategies.is_chief(trainer.strategy):
        return None
    run = runs.from_trainer(config, trainer, workdir, step)
    taps = probes.parse_names(config.eval.taps, probes.TAPS, "tap")
    kinds = probes.parse_names(config.eval.kinds, probes.KINDS, "probe kind")
    frozen = tuple(k for k in kinds if k in probes.FROZEN_KINDS) or ("linear",)
    train_features, test_features = _features(run, run.encoder, taps)
    rows, _ = _frozen_rows(
        frozen, taps, train_features, test_features, run.num_classes, config.eval
    )
    scalars = {f"probe/{r['kind']}_{r['tap']}": r["test_accuracy"] for r in rows}
    measures = dependence_measures(train_features, test_features, config.eval)
    scalars.update(
        {
            "mi/mine": measures["mine"],
            "ndm": measures["ndm"],
            "ndm_sigmoid": measures["ndm_sigmoid"],
        }
    )
    writer = tf.summary.create_file_writer(os.path.join(workdir, EVAL_LOGDIR))
    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.scalar(name, value)
    writer.close()
    return scalars


def _features(run, encoder, taps):
    """Features of the eval train split and of the eval split.

    Both include "y" and keep the images MINE and the views need.
    """
    config = run.config
    eval_config = config.eval
    size = run.image_size
    taps = tuple(dict.fromkeys((*taps, "y")))
    train = probes.extract_features(
        encoder,
        pipeline.make_eval_dataset(
            config.data, config.data.eval_train_split, size, _BATCH
        ),
        taps,
        keep_images=eval_config.measure_examples,
    )
    test = probes.extract_features(
        encoder,
        pipeline.make_eval_dataset(config.data, config.data.eval_split, size, _BATCH),
        taps,
        keep_images=max(eval_config.measure_examples, eval_config.projector_examples),
    )
    return train, test


def _few_label_rows(taps, train, test, run, eval_config):
    """Linear probes trained on the first `eval.few_labels` examples of each class.

    They take as many optimizer steps as a full-label probe, so the small
    set is not under-trained. [] when `eval.few_labels` is 0.
    """
    per_class = eval_config.few_labels
    if not per_class:
        return []
    rows = np.concatenate(
        [np.flatnonzero(train.labels == c)[:per_class] for c in range(run.num_classes)]
    )
    batch = eval_config.batch_size
    steps = eval_config.epochs * math.ceil(len(train.labels) / batch)
    few_config = eval_config.copy_and_resolve_references()
    few_config.epochs = math.ceil(steps / math.ceil(len(rows) / batch))
    results = []
    for tap in taps:
        head = probes.train_frozen_probe(
            "linear",
            (train.taps[tap][rows], train.labels[rows]),
            run.num_classes,
            few_config,
            eval_config.seed,
        )
        results.append(
            {
                "tap": tap,
                "kind": "linear",
                "labels_per_class": per_class,
                "num_train_examples": int(len(rows)),
                "test_accuracy": probes.accuracy(head, test.taps[tap], test.labels),
            }
        )
    return results


def _frozen_rows(kinds, taps, train, test, num_classes, eval_config):
    """Trains frozen probes; returns (result rows, {(tap, kind): head})."""
    rows, heads = [], {}
    for kind in kinds:
        for tap in taps:
            head = probes.train_frozen_probe(
                kind,
                (train.taps[tap], train.labels),
                num_classes,
                eval_config,
                eval_config.seed,
            )
            heads[(tap, kind)] = head
            rows.append(
                {
                    "tap": tap,
                    "kind": kind,
                    "test_accuracy": probes.accuracy(head, test.taps[tap], test.labels),
                    "train_accuracy": probes.accuracy(
                        head, train.taps[tap], train.labels
                    ),
                }
            )
    return rows, heads


def _probes(run, taps, kinds, train, test, log):
    """All probes of `kinds`.

    Returns:
      (result rows, `{(tap, kind): model}`: the head of a frozen probe, the
      whole images -> logits classifier of a fine-tuned one).
    """
    eval_config = run.config.eval
    frozen = tuple(k for k in kinds if k in probes.FROZEN_KINDS)
    if frozen:
        log(f"Probes on frozen features: {', '.join(frozen)} x {', '.join(taps)}")
    rows, models = _frozen_rows(frozen, taps, train, test, run.num_classes, eval_config)
    if "finetune" in kinds:
        config = run.config
        size = run.image_size
        images = pipeline.make_eval_dataset(
            config.data, config.data.eval_train_split, size, _BATCH
        ).unbatch()
        if config.data.cache:
            images = images.cache()
        test_images = pipeline.make_eval_dataset(
            config.data, config.data.eval_split, size, _BATCH
        )
        for tap in taps:
            epochs = eval_config.finetune_epochs
            log(f"Fine-tuned probe on {tap} ({epochs} epoch{'s' * (epochs != 1)})")
            classifier = probes.train_finetune_probe(
                run.encoder_copy(),
                tap,
                train.taps[tap],
                images,
                run.num_classes,
                eval_config,
                eval_config.seed,
            )
            models[(tap, "finetune")] = classifier
            rows.append(
                {
                    "tap": tap,
                    "kind": "finetune",
                    "test_accuracy": probes.dataset_accuracy(classifier, test_images),
                }
            )
    order = {kind: i for i, kind in enumerate(probes.KINDS)}
    rows.sort(key=lambda r: (order[r["kind"]], probes.TAPS.index(r["tap"])))
    return rows, models
