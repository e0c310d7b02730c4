"""`benchmark(config)`: how fast a config trains on this machine, as one flat dict.

Measured each alone: the full training step on a fixed synthetic batch after
warm-up (median `step_ms`, fastest `step_ms_min`, process CPU `step_cpu_ms`);
the input pipeline on the real dataset when it can be prepared (else the
result says why not); optionally the matmul rate (`dim_tf.tools.machine`),
measured again before each timed call so that both see the same load. The
step's operations are counted by the TF profiler over one step's graph.
"""

import copy
import statistics
import time

import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.input import pipeline, sources
from dim_tf.models import input_size, local_critic_units
from dim_tf.tools import machine
from dim_tf.training import settings, strategies
from dim_tf.training.build import build_trainer

FLOP_COUNT_METHOD = (
    "TF profiler float-op count of one step's graph (forward and backward of "
    "the encoder/critic update and the prior discriminator update); the "
    "optimizers' elementwise updates are not counted"
)
# The matmul rate a precision's step is compared with.
_PEAK_DTYPE = {
    "float32": "float32",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


def benchmark(
    config,
    warmup_calls=1,
    timed_calls=3,
    pipeline_batches=50,
    matmul_peak=False,
    matmul_size=machine.DEFAULT_MATMUL_SIZE,
    compare_float32=True,
):
    """Measures a config's training step, input pipeline and (optionally) matmul peak.

    The step runs in the precision `train.precision` resolves to here; when
    that is not float32 and `compare_float32`, a float32 step is timed too,
    so the gain is on record beside it.

    Args:
      config: the run's ConfigDict.
      warmup_calls: untimed calls of `config.train.steps_per_call` steps first.
      timed_calls: timed calls; the median call counts.
      pipeline_batches: batches the input pipeline is timed over; 0 skips it.
      matmul_peak: also measure the machine's matmul GFLOP/s and each step's
        fraction of its dtype's.
      matmul_size: side of the square matrices for `matmul_peak`.
      compare_float32: also time the step in float32 when it resolves to
        another precision (the `float32` entry of the result).

    Returns:
      A flat JSON-serialisable dict (one nested `float32` entry); see `bin/benchmark`.

    Raises:
      UserError: a bad config, dataset name or hardware split.
    """
    config_lib.check_config(config)
    if warmup_calls < 0 or timed_calls < 1 or pipeline_batches < 0:
        raise UserError(
            "warmup_calls and pipeline_batches must be >= 0 and timed_calls >= 1"
        )
    load_before = machine.load_average()
    # First: MultiWorkerMirroredStrategy must start before any TensorFlow call.
    strategy = strategies.make_strategy(config.strategy, config.tpu)
    settings.check_replicas(config, strategy.num_replicas_in_sync)
    image_size = input_size(config.encoder, config.image_size)
    channels, pipeline_skipped = _dataset_channels(config)
    image_shape = (image_size, image_size, channels)
    batch = config.train.batch_size
    critic_units = local_critic_units(config.critic.kind, config.critic.units)
    run = build_trainer(config, image_shape, strategy)
    result = {
        "dataset": config.data.dataset,
        "encoder": config.encoder,
        "critic": f"{config.critic.kind}{critic_units}",
        "batch_size": batch,
        "image_shape": list(image_shape),
        **machine.device_description(),
        "precision": config.train.precision,
        "precision_resolved": run.precision.policy,
        "precision_reason": run.precision.reason,
        "xla": bool(config.train.jit_compile),
        "strategy": config.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "steps_per_call": config.train.steps_per_call,
    }
    peaks = None
    if matmul_peak:
        dtypes = sorted({"float32", "bfloat16", _PEAK_DTYPE[run.precision.policy]})
        peaks = machine.matmul_peaks(dtypes, matmul_size)
        result["matmul_size"] = matmul_size
    gflop_per_step = count_step_flops(run, image_shape) / 1e9
    calls = (warmup_calls, timed_calls)
    step = _timed_step(run, image_shape, calls, gflop_per_step, peaks, matmul_size)
    result.update(
        step,
        gflop_per_image=round(gflop_per_step / batch, 4),
        flop_count_method=FLOP_COUNT_METHOD,
        peak_rss_mb=round(machine.peak_rss_mb(), 1),
    )
    if compare_float32 and run.precision.policy != "float32":
        del run  # Its variables are not needed beside the float32 step's.
        float32_config = copy.deepcopy(config)
        float32_config.train.precision = "float32"
        float32_run = build_trainer(float32_config, image_shape, strategy)
        result["float32"] = _timed_step(
            float32_run, image_shape, calls, gflop_per_step, peaks, matmul_size
        )
        result["speedup_over_float32"] = round(
            result["images_per_s"] / result["float32"]["images_per_s"], 2
        )
    if peaks is not None:  # Raised by any higher rate measured beside the steps.
        result["matmul_peak_gflops"] = {k: round(v, 1) for k, v in peaks.items()}

    if pipeline_skipped is None and pipeline_batches == 0:
        pipeline_skipped = "not measured (pipeline_batches=0)"
    pipeline_rate = None
    if pipeline_skipped is None:
        pipeline_rate = time_pipeline(config, image_size, pipeline_batches)
    images_per_s = result["images_per_s"]
    result.update(
        pipeline_images_per_s=None
        if pipeline_rate is None
        else round(pipeline_rate, 1),
        pipeline_skipped=pipeline_skipped,
        pipeline_to_step_ratio=(
            None if pipeline_rate is None else round(pipeline_rate / images_per_s, 2)
        ),
        peak_rss_mb_with_pipeline=round(machine.peak_rss_mb(), 1),
        load_average=[load_before, machine.load_average()],
    )
    return result


def _timed_step(run, image_shape, calls, gflop_per_step, peaks, matmul_size):
    """A built `Trainer`'s step timed (`time_training_step`), with its fraction of peak.

    Args:
      run: the `Trainer`.
      image_shape: `(S, S, C)` of its input images.
      calls: `(warmup_calls, timed_calls)`.
      gflop_per_step: the step's counted GFLOP (`count_step_flops` / 1e9).
      peaks: dtype -> matmul GFLOP/s measured so far, or None (no fraction).
        The step dtype's entry is raised to any higher rate measured beside it.
      matmul_size: side of the square matmuls measured beside each call.

    Returns:
      `{"step_ms", "step_ms_min", "step_cpu_ms", "images_per_s",
      "achieved_gflops"}` and, with `peaks`, `"fraction_of_matmul_peak"`:
      the median call's achieved rate over the rate of the policy's dtype
      measured just before it (both see the same load).
    """
    peak_dtype = _PEAK_DTYPE[run.precision.policy]
    between_calls = None
    if peaks is not None:

        def between_calls():
            return machine.matmul_gflops(peak_dtype, matmul_size, repeats=1)

    timing = time_training_step(run, image_shape, *calls, between_calls)
    step_s = statistics.median(timing["seconds"])
    step = {
        "step_ms": round(step_s * 1000, 2),
        "step_ms_min": round(min(timing["seconds"]) * 1000, 2),
        "step_cpu_ms": round(statistics.median(timing["cpu_seconds"]) * 1000, 2),
        "images_per_s": round(run.train_config.batch_size / step_s, 2),
        "achieved_gflops": round(gflop_per_step / step_s, 2),
    }
    if peaks is not None:
        peaks[peak_dtype] = max([peaks[peak_dtype], *timing["between"]])
        fractions = [
            gflop_per_step / seconds / peak
            for seconds, peak in zip(timing["seconds"], timing["between"])
        ]
        step["fraction_of_matmul_peak"] = round(statistics.median(fractions), 3)
    return step


def _dataset_channels(config):
    """(image channels, None) if the dataset can be prepared, else (TFDS metadata's, why not)."""
    try:
        return sources.describe(config.data, with_classes=False).channels, None
    except UserError as err:
        if sources.is_directory(config.data.dataset):
            raise
        reason = str(err)
    try:
        info = tfds.builder(config.data.dataset, data_dir=config.data.data_dir).info
    except Exception:  # No metadata either: the first error says why.
        raise UserError(reason) from None
    stored = sources.image_shape(info, config.data.image_key)[2]
    return config.data.channels or stored, reason


def time_training_step(run, image_shape, warmup_calls, timed_calls, between=None):
    """Times a built `Trainer`'s steps on a fixed synthetic global batch of `(S, S, C)` images.

    `between` (optional) runs untimed before each of the `timed_calls`.

    Returns:
      Per-call lists: "seconds" and "cpu_seconds" per step, "between" (its results).
    """
    batch = run.train_config.batch_size
    steps = run.train_config.steps_per_call
    images = tf.random.stateless_uniform(
        (batch, *run.example_shape(image_shape)), (0, 1), -1.0, 1.0
    )
    dataset = tf.data.Dataset.from_tensors(images).repeat()
    iterator = iter(run.strategy.experimental_distribute_dataset(dataset))

    def call():
        metrics, _ = run.train_steps(iterator, steps)
        float(metrics["loss"])  # Waits for the steps to finish.

    for _ in range(warmup_calls):
        call()
    timing = {"seconds": [], "cpu_seconds": [], "between": []}
    for _ in range(timed_calls):
        if between is not None:
            timing["between"].append(between())
        start, cpu_start = time.perf_counter(), machine.process_cpu_seconds()
        call()
        timing["seconds"].append((time.perf_counter() - start) / steps)
        timing["cpu_seconds"].append(
            (machine.process_cpu_seconds() - cpu_start) / steps
        )
    return timing


def count_step_flops(run, image_shape):
    """Floating-point operations of one step of the global batch, by the TF profiler.

    One replica holding the whole global batch does the replicas' work together.
    """
    spec = tf.TensorSpec(
        (run.train_config.batch_size, *run.example_shape(image_shape)), tf.float32
    )

    @tf.function(autograph=False)
    def one_step(images):
        return run.losses_and_gradients(images, tf.constant(0, tf.int64))

    graph = one_step.get_concrete_function(spec).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return float(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def time_pipeline(config, image_size, batches, warmup_batches=5):
    """Images per second a fresh training input pipeline (decoding included) yields, alone.

    Times `batches` batches of `config.train.batch_size` images of side
    `image_size` after `warmup_batches` untimed ones.
    """
    batch = config.train.batch_size
    iterator = iter(
        pipeline.make_train_dataset(
            config.data,
            image_size,
            batch,
            seed=config.train.seed,
            augment_config=config.augment,
            views=config.objective.views,
        )
    )
    for _ in range(warmup_batches):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)
