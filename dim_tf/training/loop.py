"""`train(config, workdir)`: build in scope, restore, loop, checkpoint, report.

Each iteration runs several steps in one `tf.function` call, then the side
effects outside it. Everything a user can get wrong is checked before the
workdir is touched.
"""

import dataclasses
import os

import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf import input as input_names
from dim_tf import workdir as workdir_lib
from dim_tf.errors import TrainingError, UserError
from dim_tf.input import eval_sets, pipeline, read_errors, sources
from dim_tf.models import priors
from dim_tf.training import budget, checkpoints, health, lost_workers
from dim_tf.training.build import build
from dim_tf.training.checkpoints import Checkpointer
from dim_tf.training.preemption import StopSignals
from dim_tf.training.summaries import Reporter


@dataclasses.dataclass
class TrainResult:
    """What a finished (or already complete) run leaves behind."""

    step: int
    metrics: dict
    checkpoint: str
    workdir: str
    # Why training stopped early without an error (`train.max_minutes`), or None.
    stopped_early: str | None = None


def _next_stop(step, total, every_values):
    """The first step after `step` at which the loop must come out of tf.function."""
    stops = [total] + [(step // every + 1) * every for every in every_values]
    return min(stops)


def train(config, workdir, actions=()):
    """Trains DIM as `config` says, resuming from `workdir` when it holds the run.

    Args:
      config: ConfigDict with the fields of `dim_tf.config.default_config`.
      workdir: run directory; created if missing.
      actions: callables `action(trainer, step, steps_done)` run on every
        worker after each `tf.function` call (Orbit's train actions), e.g.
        the periodic evaluation `eval.every` needs.

    Returns:
      `TrainResult`; `stopped_early` is set when `train.max_minutes` ended the
      run (after a checkpoint of the step reached).

    Raises:
      UserError: bad config, dataset, workdir or hardware split, or a workdir
        another process is training in (nothing written).
      TrainingError: the loss became non-finite (the last good checkpoint is kept).
      Interrupted: SIGTERM or SIGINT arrived; a checkpoint was saved first.
      WorkerLost: under `multi_worker`, another worker died.
    """
    strategy, run, image_size = build(config, workdir)
    chief = strategy.extended.should_checkpoint
    # Only the chief writes the workdir, so only it holds the lock.
    with workdir_lib.workdir_lock(workdir, enabled=chief), StopSignals() as signals:
        return _train(
            config, workdir, strategy, run, image_size, chief, signals, actions
        )


def _train(config, workdir, strategy, run, image_size, chief, signals, actions):
    """`train`'s body, with the workdir locked and stop signals caught."""
    checkpointer = Checkpointer(
        os.path.join(workdir, "checkpoints"),
        run.checkpoint_items(),
        keep=config.train.keep_checkpoints,
        is_chief=chief,
        every=config.train.checkpoint_every,
    )
    checkpointer.restore_latest()
    step = int(run.step.numpy())
    total = config.train.steps
    batch = config.train.batch_size
    dataset = strategy.distribute_datasets_from_function(
        lambda ctx: pipeline.make_train_dataset(
            config.data,
            image_size,
            batch,
            step,
            ctx,
            seed=config.train.seed,
            augment_config=config.augment,
            views=config.objective.views,
        )
    )
    # Written once the input pipeline is built: a data error (such as a cache
    # beyond memory) leaves no config.json that a corrected rerun must match.
    if chief:
        record = config_lib.to_record(config)
        record["start"] = start_record(step, run.precision)
        workdir_lib.write_config(workdir, record)
    iterator = iter(dataset)
    reporter = Reporter(
        os.path.join(workdir, "train"),
        total,
        batch,
        enabled=strategy.extended.should_save_summary,
    )
    # Fixed Y-histogram batch: the first test images (a batch from the training
    # stream would fill its shuffle buffer first).
    eval_split = sources.describe(config.data, with_classes=False).eval_split
    # A damaged file among them is a one-line error, as in the training steps.
    with read_errors.reading("evaluation data"):
        sample_images, _ = next(
            iter(
                eval_sets.make_eval_dataset(
                    config.data,
                    eval_split,
                    image_size,
                    batch,
                    center_crop=input_names.trains_on_fixed_crops(
                        config.augment, config.data
                    ),
                )
            )
        )
    monitor = health.make_monitor(run.encoder, run.local_critic, run.global_critic)
    time_budget = budget.TimeBudget(
        run.train_seconds, config.train.max_minutes, is_chief=chief
    )
    metrics = {}
    try:
        # A rerun of a run that used up its budget trains no step.
        out_of_time = time_budget.used_up(strategy)
        reporter.start(step, run.precision)
        reporter.throughput(step)
        time_budget.start()
        while step < total and not out_of_time:
            stop = _next_stop(
                step, total, (config.train.log_every, config.train.checkpoint_every)
            )
            num_steps = min(config.train.steps_per_call, stop - step)
            metrics, first_bad_step = run.train_steps(iterator, num_steps)
            time_budget.count()
            metrics = {name: float(value) for name, value in metrics.items()}
            if int(first_bad_step) >= 0:
                raise TrainingError(
                    f"the loss became non-finite at step {int(first_bad_step) + 1}; "
                    f"the last good checkpoint is kept ({checkpointer.latest}); "
                    "try a lower train.learning_rate or float32 precision"
                )
            step += num_steps
            log = step % config.train.log_every == 0 or step == total
            if log:
                images_per_s = reporter.throughput(step)
                _write_summaries(
                    reporter, run, step, metrics, images_per_s, monitor, sample_images
                )
                reporter.progress(
                    step,
                    metrics,
                    images_per_s,
                    log=True,
                    budget_left=time_budget.seconds_left(),
                )
            else:
                reporter.progress(step, metrics, None)
            checkpointer.save(force=step == total)  # At multiples of checkpoint_every.
            with time_budget.paused():  # Evaluation actions are not training time.
                for action in actions:
                    action(run, step, num_steps)
            if signals.requested(strategy):
                break
            out_of_time = time_budget.used_up(strategy)
        checkpointer.save(force=True)  # Unless this step's exists already.
        if step < total and not out_of_time:
            raise signals.interrupted(step, checkpointer.latest)
    except lost_workers.ERRORS as err:
        # Another worker died: the collectives (step, save, stop flags) fail.
        cluster = lost_workers.cluster_of(strategy)
        if cluster is None or not lost_workers.is_lost_worker(err):
            raise
        raise lost_workers.lost_worker(
            err, *cluster, step, _resume_point(checkpointer.directory)
        ) from None
    finally:
        reporter.close()
        checkpointer.close()
    stopped_early = time_budget.stop_message(step, total) if step < total else None
    return TrainResult(step, metrics, checkpointer.latest, workdir, stopped_early)


def start_record(step, precision):
    """config.json's `"start"`: this start's step and the precision chosen here, and why.

    Args:
      step: the step training starts (or resumes) from.
      precision: `dim_tf.training.precision.Resolved`.
    """
    return {
        "step": step,
        "precision": precision.policy,
        "precision_reason": precision.reason,
    }


def _write_summaries(
    reporter, run, step, metrics, images_per_s, monitor, sample_images
):
    scalars = dict(metrics)
    scalars["learning_rate"] = run.train_config.learning_rate
    if images_per_s:
        scalars["images_per_s"] = images_per_s
    features, health_scalars = monitor(sample_images)
    scalars.update(health_scalars)
    reporter.scalars(step, scalars)
    y = tf.cast(features["y"], tf.float32)
    histograms = {"y": y, "sigmoid_y": tf.sigmoid(y)}
    if run.prior_name != "none":
        # Drawn as the discriminator's are, from another seed.
        histograms["prior_samples"] = priors.sample_prior(
            run.prior_name, int(y.shape[0]), int(y.shape[1]), tf.constant([0, step])
        )
        histograms["prior_code"] = priors.code_for_prior(run.prior_name, y)
    reporter.histograms(step, histograms)


def _resume_point(directory):
    """The checkpoint a restart resumes from, for the lost-worker line.

    The line must name the lost worker even when the state file is unreadable.
    """
    try:
        return checkpoints.newest_checkpoint(directory, warn=False)
    except UserError:
        return f"{directory} (the newest; its state file cannot be read)"
