"""What the machine can do: its devices, its matmul rate, bfloat16 units, memory."""

import collections
import functools
import os
import platform
import resource
import time

import tensorflow as tf

# Compute-bound on a CPU and a GPU, yet 3 x 64 MB in float32.
DEFAULT_MATMUL_SIZE = 4096
# A CPU has bfloat16 units when its bfloat16 products run this much faster.
BFLOAT16_SPEEDUP = 1.5
# Interleaved rounds: other work on a shared machine slows one, not a dtype's.
_SPEEDUP_ROUNDS = 3
# NVIDIA GPUs multiply bfloat16 natively from Ampere (compute capability 8.0) on.
GPU_BFLOAT16_CAPABILITY = (8, 0)

# Whether the device computes bfloat16 products natively, and a phrase saying
# why ("this CPU multiplies bfloat16 1.9x as fast as float32").
Bfloat16Units = collections.namedtuple("Bfloat16Units", "native reason")


@tf.function
def _products(a, b, count):
    """`count` chained products `a @ b` (none skipped); one graph for every measurement."""

    def body(i, acc):
        return i + 1, acc + tf.reduce_sum(tf.matmul(a, b)[:1, :1])

    _, acc = tf.while_loop(
        lambda i, acc: i < count, body, (tf.constant(0), tf.constant(0.0, a.dtype))
    )
    return acc


def matmul_gflops(dtype, size=DEFAULT_MATMUL_SIZE, repeats=5, min_seconds=0.5):
    """The best GFLOP/s of `[size, size] x [size, size]` products in `dtype`.

    Args:
      dtype: "float32", "bfloat16" or "float16".
      size: the matrices' side n; one product is 2 n^3 operations.
      repeats: timed rounds; the best counts (other processes only slow one down).
      min_seconds: each round's least duration.

    Returns:
      float, GFLOP/s.
    """
    a = tf.cast(tf.random.stateless_normal((size, size), (1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((size, size), (3, 4)), dtype)
    flop = 2.0 * size**3
    _products(a, b, tf.constant(1)).numpy()  # Trace (once per dtype and size), warm up.
    start = time.perf_counter()
    _products(a, b, tf.constant(1)).numpy()
    count = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        _products(a, b, tf.constant(count)).numpy()
        rates.append(count * flop / (time.perf_counter() - start) / 1e9)
    return max(rates)


def matmul_peaks(dtypes=("float32", "bfloat16"), size=DEFAULT_MATMUL_SIZE):
    """dtype name -> best matmul GFLOP/s (see `matmul_gflops`)."""
    return {dtype: round(matmul_gflops(dtype, size), 1) for dtype in dtypes}


@functools.cache
def bfloat16_speedup():
    """bfloat16 over float32 matmul GFLOP/s on this CPU (best of interleaved rounds, measured once)."""
    rates = {"float32": [], "bfloat16": []}
    for _ in range(_SPEEDUP_ROUNDS):
        for dtype, measured in rates.items():
            measured.append(matmul_gflops(dtype, size=1024, repeats=1, min_seconds=0.1))
    return max(rates["bfloat16"]) / max(rates["float32"])


def bfloat16_units():
    """Whether this process's device computes bfloat16 products natively, and why.

    A TPU does; a GPU from compute capability 8.0 (every visible one); a CPU
    when its measured bfloat16 matmul rate is at least `BFLOAT16_SPEEDUP`
    times its float32 rate (AVX-512 BF16, AMX), since TensorFlow emulates
    bfloat16 elsewhere, more slowly than float32. What `auto` precisions
    choose by.

    Returns:
      `Bfloat16Units(native, reason)`.
    """
    if tf.config.list_logical_devices("TPU"):
        return Bfloat16Units(True, "a TPU multiplies bfloat16 natively")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [
            tf.config.experimental.get_device_details(gpu).get(
                "compute_capability", (0, 0)
            )
            for gpu in gpus
        ]
        lowest = min(tuple(capability) for capability in capabilities)
        major, minor = GPU_BFLOAT16_CAPABILITY
        shown = f"{lowest[0]}.{lowest[1]}"
        if lowest >= GPU_BFLOAT16_CAPABILITY:
            return Bfloat16Units(
                True,
                f"GPU compute capability {shown} (bfloat16 units from {major}.{minor})",
            )
        return Bfloat16Units(
            False,
            f"GPU compute capability {shown}, below {major}.{minor}: no bfloat16 units",
        )
    speedup = bfloat16_speedup()
    comparison = f"this CPU multiplies bfloat16 {speedup:.1f}x as fast as float32"
    if speedup >= BFLOAT16_SPEEDUP:
        return Bfloat16Units(True, comparison)
    return Bfloat16Units(
        False, f"{comparison} (bfloat16 units: {BFLOAT16_SPEEDUP}x or more)"
    )


def device_description():
    """What runs the step: `{"device": "cpu"|"gpu"|"tpu", "device_name", "cores"}`,
    plus `"onednn"` on a CPU."""
    gpus = tf.config.list_logical_devices("GPU")
    tpus = tf.config.list_logical_devices("TPU")
    if tpus:
        return {"device": "tpu", "device_name": tpus[0].name, "cores": len(tpus)}
    if gpus:
        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )
        name = details.get("device_name", gpus[0].name)
        return {"device": "gpu", "device_name": name, "cores": len(gpus)}
    return {
        "device": "cpu",
        "device_name": _cpu_model(),
        "cores": os.cpu_count(),
        "onednn": onednn_enabled(),
    }


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # Not in this TensorFlow build.
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb():
    """This process's peak resident memory so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024 if platform.system() == "Darwin" else 1024)


def process_cpu_seconds():
    """CPU time (user + system, all threads) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average():
    """The 1-minute load average (other processes slow a timing down), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
