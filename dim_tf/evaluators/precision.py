"""Which dtype an evaluator's `precision` setting means on this machine.

`eval.knn.precision` (the kNN similarities' products) and
`eval.mlp.precision` (the `mlp` probes' hidden layer) are `float32`,
`bfloat16` or `auto`: bfloat16 where a quick measurement finds this CPU's
bfloat16 matrix products at least `BFLOAT16_SPEEDUP` times faster than its
float32 ones (a CPU with bfloat16 units, e.g. AVX-512 BF16 or AMX), float32
where not (a CPU without them runs bfloat16 products at about half the
float32 rate).
"""

import functools

from dim_tf.tools import machine

# `auto` takes bfloat16 only when its products are at least this much faster.
BFLOAT16_SPEEDUP = 1.5


# Timed rounds of each dtype, taken in turn: a moment of other work on a
# shared machine slows one round, not every round of one dtype.
_ROUNDS = 3


@functools.cache
def bfloat16_speedup():
    """bfloat16 over float32 matmul GFLOP/s on this machine (measured once per process).

    Each dtype's best of `_ROUNDS` rounds, the rounds of the two dtypes
    interleaved.
    """
    rates = {"float32": [], "bfloat16": []}
    for _ in range(_ROUNDS):
        for dtype, measured in rates.items():
            measured.append(
                machine.matmul_gflops(dtype, size=1024, repeats=1, min_seconds=0.1)
            )
    return max(rates["bfloat16"]) / max(rates["float32"])


def compute_dtype(precision):
    """The dtype a precision setting computes in here.

    Args:
      precision: "float32", "bfloat16" or "auto".

    Returns:
      "float32" or "bfloat16".
    """
    if precision == "auto":
        return "bfloat16" if bfloat16_speedup() >= BFLOAT16_SPEEDUP else "float32"
    return precision


def measure_if_auto(eval_config, kinds):
    """Measures `bfloat16_speedup` now if an evaluator of `kinds` runs at `auto`.

    The measurement times matrix products: taken while other work runs
    (e.g. probes training in the background) it would be disturbed, so an
    evaluation takes it before starting any. Only `knn` (`eval.knn.precision`)
    and `mlp` (`eval.mlp.precision`) read a precision.

    Args:
      eval_config: the `config.eval` section.
      kinds: the names of the evaluators that will run (e.g. "knn").
    """
    settings = {"knn": eval_config.knn.precision, "mlp": eval_config.mlp.precision}
    if any(settings[kind] == "auto" for kind in settings if kind in kinds):
        bfloat16_speedup()
