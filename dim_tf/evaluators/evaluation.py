"""Runs the evaluators of a run: `evaluate` (bin/evaluate) and the training action.

`evaluate(workdir)`, for the latest checkpoint of a run:

1. extracts the frozen features of the eval train split (at most
   `eval.max_train_examples`) and of the eval split once
   (`dim_tf.evaluators.features`);
2. runs the evaluators `dim_tf.evaluators.registry.plan` lists: the probes of
   `eval.kinds` on each tap of `eval.taps`, the few-label and label-fraction
   probes, the random encoder's linear (kNN, few-label, label-fraction)
   probes as a baseline, MINE and NDM, each reported by a progress line with
   an ETA (`dim_tf.evaluators.progress`);
3. writes their `(name, value)` pairs as TensorBoard scalars and the views
   (`dim_tf.evaluators.views`) to `DIR/eval`, the trained probes to
   `DIR/probes/` (`dim_tf.evaluators.probe_store`, for `dim_tf.export`) and
   everything to `DIR/results.json` (`dim_tf.evaluators.report`).

`periodic_evaluation(config, workdir)` is the training-loop action that runs
the same frozen-probe, kNN and MINE / NDM evaluators every `eval.every` steps.

`use_cores_for(workdir, kinds)` is what the entry points (bin/evaluate,
bin/benchmark --workdir) call first: fewer threads per TensorFlow operation
(one on a CPU of up to 7 cores), the cores shared by concurrent work
instead (`cpu_threads`).

On a dataset without labels (a directory of unlabeled images) both run only
the evaluators whose module says `NEEDS_LABELS = False` (MINE, NDM, decoder) and
the views without label colours.
"""

import contextlib
import dataclasses

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import (
    KINDS,
    TAPS,
    cpu_threads,
    precision,
    probe_store,
    registry,
    settings,
    views,
)
from dim_tf.evaluators.features import Need, StepFeatures
from dim_tf.evaluators.frozen_training import MAX_CONCURRENT_PROBES, ProbePool
from dim_tf.evaluators.progress import Progress, evaluator_name
from dim_tf.evaluators.report import build_results, write_results
from dim_tf.input import read_errors
from dim_tf.training import runs, strategies

__all__ = [
    "Step",
    "evaluate",
    "measure",
    "periodic_evaluation",
    "run_all",
    "start",
    "use_cores_for",
]


@dataclasses.dataclass
class Step:
    """What the evaluators of one evaluation step share.

    Attributes:
      run: the `dim_tf.training.runs.Run` measured.
      features: its `StepFeatures`, extracted once for all evaluators.
      log: callable taking a progress line.
      probe_pool: the `frozen_training.ProbePool` that trains the frozen
        probes of every evaluator of the step in the background; `close()`
        the step when done with it.
    """

    run: object
    features: StepFeatures
    log: object
    probe_pool: ProbePool = dataclasses.field(default_factory=ProbePool)

    def close(self):
        """Waits for (or cancels) the probes still training in the background."""
        self.probe_pool.close()

    @property
    def num_classes(self):
        return self.run.num_classes


def start(run, evaluators, extra_needs=(), log=None):
    """The `Step` of `evaluators` on `run`: features not extracted yet.

    Args:
      run: `dim_tf.training.runs.Run`.
      evaluators: registry `Evaluator`s the step will run.
      extra_needs: further `features.Need`s (e.g. of the views).
      log: callable taking a progress line, or None.
    """
    log = log or (lambda line: None)
    needs = [need for evaluator in evaluators for need in evaluator.needs]
    # `auto` precisions time this CPU's matrix products: measured now, on
    # an idle CPU, not beside probes already training in the background.
    kinds = {evaluator_name(e) for e in evaluators}
    precision.measure_if_auto(run.config.eval, kinds)
    return Step(run, StepFeatures(run, [*needs, *extra_needs], log), log)


def measure(run, evaluators, log=None):
    """Runs `evaluators` in order on features of `run` they share.

    Returns:
      `(step, results)`: the `Step` (its features stay available) and the list
      of `results.Result`s.
    """
    with contextlib.closing(start(run, evaluators, log=log)) as step:
        return step, run_all(step, evaluators)


def run_all(step, evaluators):
    """The `results.Result`s of `evaluators` on `step`, in order.

    Those that can (`start`) are started first, to work in the background
    while the others run (`dim_tf.evaluators.progress.Progress.run_all`).
    """
    return Progress().run_all(step, evaluators)


def evaluate(
    workdir,
    taps=None,
    kinds=None,
    random_baseline=None,
    log=None,
    run=None,
    progress=None,
):
    """Measures the run in `workdir` at its latest checkpoint; writes results.json.

    Args:
      workdir: run directory written by `dim_tf.training.loop.train`.
      taps: comma-separated taps to probe (None = `config.eval.taps`).
      kinds: comma-separated probe kinds (None = `config.eval.kinds`).
      random_baseline: also probe a random encoder (None = the config's).
      log: callable taking a progress line, or None (quiet).
      run: an already loaded `dim_tf.training.runs.Run` of `workdir`, or None.
      progress: the `dim_tf.evaluators.progress.Progress` that times the
        parts and reports them (None = a new one reporting through `log`).

    Returns:
      The results dict written to `DIR/results.json` (`dim_tf.evaluators.report`).

    Raises:
      UserError: missing workdir, no checkpoint, unknown tap or kind, a bad
        `eval` setting, or data that cannot be loaded.
    """
    progress = progress or Progress(log)
    log = progress.log
    # Names given by the caller are checked before the (slower) run is loaded.
    taps = taps and config_lib.parse_names("tap", taps, TAPS)
    kinds = kinds and config_lib.parse_names("probe kind", kinds, KINDS)
    if run is None:
        with progress.part("load", f"Loading the run in {workdir}"):
            run = runs.load_run(workdir)
    eval_config = run.config.eval
    settings.check(eval_config)
    taps = taps or config_lib.parse_names("tap", eval_config.taps, TAPS)
    kinds = kinds or config_lib.parse_names("probe kind", eval_config.kinds, KINDS)
    if random_baseline is None:
        random_baseline = eval_config.random_baseline
    log(f"Evaluating {workdir} at step {run.step} on {run.config.data.dataset}")
    evaluators = registry.plan(
        eval_config, taps, kinds, random_baseline, labeled=run.labeled
    )
    if not run.labeled:
        log(_skipped_without_labels(eval_config, kinds, random_baseline))
    # The views show Y and the images of the first test examples.
    view_need = Need("trained", ("y",), 0, eval_config.views.projector_examples)
    trained = [e for e in evaluators if e.source == "trained"]
    baseline = [e for e in evaluators if e.source != "trained"]
    count = len(evaluators)
    # Damaged files surface while the features or fine-tuned probes read them.
    with (
        read_errors.reading("evaluation data"),
        contextlib.closing(start(run, evaluators, [view_need], log)) as step,
    ):
        with progress.part("features/trained", "Features of the trained encoder"):
            train, test = step.features.get("trained")
        results = progress.run_all(step, trained, count=count)
        counts = len(train.labels), len(test.labels)
        with progress.part("views", "TensorBoard views"):
            views.write_views(run, test)
        # The trained encoder's features are done with: freed before the
        # baseline's pass, so the two sets are never in memory together.
        del train, test
        step.features.release("trained")
        if baseline:
            with progress.part(
                "features/random", "Features of a randomly initialised encoder"
            ):
                step.features.get("random")
        results += progress.run_all(step, baseline, first=len(trained) + 1, count=count)
    with progress.part("save", "Saving results.json and the trained probes"):
        views.write_scalars(workdir, run.step, [(r.name, r.value) for r in results])
        probes = [r for r in results if r.section == "probes"]
        probe_store.save(
            workdir,
            run.step,
            [r.row for r in probes],
            {(r.row["tap"], r.row["kind"]): r.model for r in probes},
        )
        summary = build_results(run, results, *counts)
        write_results(workdir, summary)
    return summary


def use_cores_for(workdir, kinds=None):
    """Sets up this process's threads for `evaluate(workdir, kinds=kinds)`.

    For the evaluation entry points (bin/evaluate, bin/benchmark --workdir),
    before TensorFlow runs anything: each operation runs on its share of the
    cores beside the probes trained side by side (`cpu_threads.share_cores`:
    one thread on a CPU of up to 7 cores), which the probes, the feature
    passes and kNN turn into less CPU time. Not with `finetune` among the
    kinds: its probes train the encoder in one loop of large operations,
    which needs TensorFlow's threads.

    Args:
      workdir, kinds: as `evaluate`'s. Where `evaluate` would refuse them
        (no run in `workdir`, an unknown kind), nothing is set: `evaluate`
        says what is wrong, in its usual order.
    """
    try:
        eval_config = runs.load_config(workdir).eval
        names = config_lib.parse_names("probe kind", kinds or eval_config.kinds, KINDS)
    except UserError:
        return
    if "finetune" not in names:
        cpu_threads.share_cores(MAX_CONCURRENT_PROBES)


def _skipped_without_labels(eval_config, kinds, random_baseline):
    """The line that names the evaluations a dataset without labels skips."""
    skipped = [
        name if source == "trained" else f"{source}-encoder {name}"
        for name, source in registry.plan_names(eval_config, kinds, random_baseline)
        if registry.needs_labels(name)
    ]
    return (
        f"The dataset has no labels: skipping {', '.join(skipped)} (they need "
        "labels); measuring MINE, NDM and the TensorBoard views"
    )


def periodic_evaluation(config, workdir):
    """The training-loop action: frozen probes, MINE and NDM every `eval.every` steps.

    The action measures when the last `steps_done` steps crossed a multiple of
    `config.eval.every`, on the chief only, with the same evaluators as
    `evaluate` (the frozen kinds and `knn` of `eval.kinds`, linear when there
    is none of them, and `mi`). Scalars go to `DIR/eval`: `probe/{kind}_{tap}`
    (test accuracy), `mi/mine`, `ndm`, `ndm_sigmoid`.

    Args:
      config: the run's ConfigDict.
      workdir: the run directory.

    Returns:
      A callable `action(trainer, step, steps_done)` for
      `dim_tf.training.loop.train(..., actions=[...])`; it returns the
      measured `{name: value}`, or None when nothing was due.
    """
    every = config.eval.every

    def action(trainer, step, steps_done):
        if not every or step // every == (step - steps_done) // every:
            return None
        if not strategies.is_chief(trainer.strategy):
            return None
        # Parsed here, not earlier: the loop checks the config (with messages
        # naming the field) before the first step.
        taps = config_lib.parse_names("tap", config.eval.taps, TAPS)
        kinds = registry.periodic_kinds(
            config_lib.parse_names("probe kind", config.eval.kinds, KINDS)
        )
        run = runs.from_trainer(config, trainer, workdir, step)
        evaluators = [
            registry.build(name, config.eval, taps)
            for name in (*kinds, "mi")
            if run.labeled or not registry.needs_labels(name)
        ]
        # A damaged test file is named in one line, as in `evaluate`.
        with read_errors.reading("evaluation data"):
            _, results = measure(run, evaluators)
        pairs = [(r.name, r.value) for r in results]
        views.write_scalars(workdir, step, pairs)
        return dict(pairs)

    return action
