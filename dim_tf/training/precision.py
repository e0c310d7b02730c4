"""`train.precision`: the Keras dtype policy a run computes in on this machine.

`auto` (the default) is resolved on every start, on the hardware at hand:
mixed bfloat16 where the device multiplies bfloat16 natively, float32
elsewhere, so a run moved to other hardware computes in that hardware's
best. Variables stay float32 under every policy, so a checkpoint resumes in
either; the MI estimators and losses compute in float32 under each.
"""

import collections

from dim_tf.tools import machine

# The policy a run computes in and a phrase saying why (the log, config.json's
# "start" record and TensorBoard show both).
Resolved = collections.namedtuple("Resolved", "policy reason")


def resolve(precision):
    """The Keras dtype policy of a `train.precision` setting here.

    Args:
      precision: "auto" or a Keras policy name ("float32", "mixed_bfloat16",
        "mixed_float16").

    Returns:
      `Resolved(policy, reason)`.
    """
    if precision != "auto":
        return Resolved(precision, f"train.precision={precision}")
    units = machine.bfloat16_units()
    policy = "mixed_bfloat16" if units.native else "float32"
    return Resolved(policy, f"train.precision=auto: {units.reason}")
