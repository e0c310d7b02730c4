"""`tf.distribute` strategies by name, and which process writes the workdir."""

import json
import os

import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.training.settings import STRATEGIES


def make_strategy(name, tpu=""):
    """The strategy the `strategy` config field names.

    Args:
      name: `auto` (MirroredStrategy over all local GPUs when there are
        several, one GPU when there is one, else the default strategy),
        `mirrored` (all local GPUs, or all logical CPUs without a GPU),
        `one_device`, `multi_worker` (MultiWorkerMirroredStrategy from
        TF_CONFIG) or `tpu`.
      tpu: TPU address for `tpu` ("" = the local TPU).

    Returns:
      A `tf.distribute.Strategy`.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if name == "multi_worker":
        # First: collective ops must be configured before the runtime starts,
        # and listing devices starts it.
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        if len(gpus) == 1:
            return tf.distribute.OneDeviceStrategy(gpus[0].name)
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            (gpus or tf.config.list_logical_devices("CPU"))[0].name
        )
    return _tpu_strategy(tpu)


def check_tf_config():
    """Raises `UserError` unless TF_CONFIG describes this worker in a cluster."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError(
            "strategy=multi_worker needs the TF_CONFIG environment variable "
            '(JSON: {"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}})'
        )
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"TF_CONFIG is malformed ({type(err).__name__}: {err}); it must be JSON with "
            '"cluster": {"worker": [host:port, ...]} and "task": {"type", "index"}'
        ) from None
    if task.get("type") not in ("worker", "chief") or not isinstance(workers, list):
        raise UserError(
            'TF_CONFIG task.type must be "worker" or "chief" and cluster.worker a list'
        )
    if task["type"] == "worker" and not 0 <= index < len(workers):
        raise UserError(
            f"TF_CONFIG task.index {index} is out of range for {len(workers)} workers"
        )


def _tpu_strategy(address):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise UserError(
            f"strategy=tpu found no TPU at {address or 'the local host'!r} ({err}); "
            "set --config.tpu=ADDRESS or choose another strategy"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes checkpoints, summaries and config.json.

    `strategy.extended.should_checkpoint`: True except on the workers of a
    MultiWorkerMirroredStrategy cluster other than its chief (task "chief", or
    worker 0 when the cluster has none). The name is what code outside
    training (periodic evaluation) asks.
    """
    return strategy.extended.should_checkpoint
