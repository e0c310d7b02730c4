"""Runs a run's evaluators: `evaluate` (bin/evaluate) and the training action.

`evaluate` extracts the frozen features once per encoder, runs the
evaluators `registry.plan` lists and writes their results (TensorBoard,
`DIR/probes/`, results.json); `periodic_evaluation` runs the frozen
probes, kNN and MINE / NDM every `eval.every` training steps. Without
labels only the evaluators that do not need them run.
"""

import contextlib
import dataclasses

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import TAPS, cpu, registry, settings, views
from dim_tf.evaluators.base import Need, parse_kinds
from dim_tf.evaluators.features import StepFeatures
from dim_tf.evaluators.probes import store
from dim_tf.evaluators.probes.frozen import MAX_CONCURRENT_PROBES, ProbePool
from dim_tf.evaluators.progress import Progress
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
      probe_pool: the `frozen.ProbePool` of the step's background probes;
        `close()` the step when done with it.
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
      evaluators: `base.Evaluator`s the step will run.
      extra_needs: further `base.Need`s (e.g. of the views).
      log: callable taking a progress line, or None.
    """
    log = log or (lambda line: None)
    needs = [need for evaluator in evaluators for need in evaluator.needs]
    # Timed now, before background probes disturb the measurement.
    kinds = {e.name for e in evaluators}
    cpu.measure_if_auto(run.config.eval, kinds)
    return Step(run, StepFeatures(run, [*needs, *extra_needs], log), log)


def measure(run, evaluators, log=None):
    """Runs `evaluators` in order on features of `run` they share.

    Returns:
      `(step, results)`: the `Step` and the list of `base.Result`s.
    """
    with contextlib.closing(start(run, evaluators, log=log)) as step:
        return step, run_all(step, evaluators)


def run_all(step, evaluators):
    """The `base.Result`s of `evaluators` on `step`, in order (`Progress.run_all`)."""
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
      kinds: comma-separated kinds, built-in or plug-in module paths (None =
        `config.eval.kinds`).
      random_baseline: also probe a random encoder (None = the config's).
      log: callable taking a progress line, or None (quiet).
      run: an already loaded `dim_tf.training.runs.Run` of `workdir`, or None.
      progress: the `progress.Progress` timing the parts (None = a new one).

    Returns:
      The results dict written to `DIR/results.json`.

    Raises:
      UserError: missing workdir, no checkpoint, unknown tap or kind, a bad
        `eval` setting, or data that cannot be loaded.
    """
    progress = progress or Progress(log)
    log = progress.log
    # Checked before the (slower) run is loaded.
    taps = taps and config_lib.parse_names("tap", taps, TAPS)
    kinds = kinds and parse_kinds("probe kind", kinds)
    if run is None:
        with progress.part("load", f"Loading the run in {workdir}"):
            run = runs.load_run(workdir)
    eval_config = run.config.eval
    settings.check(eval_config)
    taps = taps or config_lib.parse_names("tap", eval_config.taps, TAPS)
    kinds = kinds or parse_kinds("probe kind", eval_config.kinds)
    if random_baseline is None:
        random_baseline = eval_config.random_baseline
    log(f"Evaluating {workdir} at step {run.step} on {run.config.data.dataset}")
    precisions = cpu.auto_precisions(eval_config, kinds)
    if precisions:
        log(f"precision: {precisions}")
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
        pooled = {**train.pooled, **test.pooled}
        with progress.part("views", "TensorBoard views"):
            views.write_views(run, test)
        # Freed first: the two encoders' features are never in memory together.
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
        store.save(
            workdir,
            run.step,
            [r.row for r in probes],
            {(r.row["tap"], r.row["kind"]): r.model for r in probes},
        )
        summary = build_results(run, results, *counts, pooled=pooled)
        write_results(workdir, summary)
    return summary


def use_cores_for(workdir, kinds=None):
    """Shares the cores between concurrent probes for `evaluate(workdir, kinds=kinds)`.

    Called by the entry points before TensorFlow runs anything. Not with
    `finetune`, whose large operations need TensorFlow's threads; nothing
    either where `evaluate` will refuse the arguments (it says why).
    """
    try:
        eval_config = runs.load_config(workdir).eval
        names = parse_kinds("probe kind", kinds or eval_config.kinds)
    except UserError:
        return
    if "finetune" not in names:
        cpu.share_cores(MAX_CONCURRENT_PROBES)


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
    """The training-loop action: frozen probes, kNN, MINE and NDM every `eval.every` steps.

    On the chief, when the last `steps_done` steps crossed a multiple of
    `eval.every`; scalars go to `DIR/eval`.

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
        # Parsed here: the loop has checked the config before the first step.
        taps = config_lib.parse_names("tap", config.eval.taps, TAPS)
        kinds = registry.periodic_kinds(parse_kinds("probe kind", config.eval.kinds))
        run = runs.from_trainer(config, trainer, workdir, step)
        evaluators = [
            registry.build(name, config.eval, taps)
            for name in (*kinds, "mi")
            if run.labeled or not registry.needs_labels(name)
        ]
        with read_errors.reading("evaluation data"):
            _, results = measure(run, evaluators)
        pairs = [(r.name, r.value) for r in results]
        views.write_scalars(workdir, step, pairs)
        return dict(pairs)

    return action
