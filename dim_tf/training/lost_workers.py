"""A worker of a multi-worker cluster lost mid-run, as one line naming it.

When a worker dies, the others' collectives fail with an op error (TensorFlow
2.21: `UnavailableError`) holding "Collective ops is aborted by: REASON" and
the peer as "remote target /job:worker/replica:0/task:1", an address, or the
coordination service's list of unhealthy tasks. Collectives cannot go on after
an abort: the whole cluster restarts from the newest complete checkpoint.
"""

import re

import tensorflow as tf

from dim_tf.errors import WorkerLost

# The op errors a broken connection between workers raises.
ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
    tf.errors.DeadlineExceededError,
)

# Marks an error as the collectives' (not, e.g., a remote file read's).
_ABORTED = re.compile(r"(?:Collective ops is aborted by: )+([^\n]*)")
_REMOTE_TASK = re.compile(r"remote target /job:(\w+)/replica:\d+/task:(\d+)")
_UNHEALTHY = re.compile(
    r"tasks are unhealthy[^\n]*\n((?:/job:\w+/replica:\d+/task:\d+\n?)+)"
)
_TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")
_RELAYED = re.compile(r'grpc_message:\\*"Collective ops is aborted')
_ANSWER = re.compile(r"grpc_message:")
_ADDRESS = re.compile(r"ipv[46]:(\S+?:\d+)\b")


def cluster_of(strategy):
    """The cluster `strategy` trains on and this process's task in it.

    Args:
      strategy: the run's `tf.distribute.Strategy`.

    Returns:
      `(cluster, (task_type, task_index))`, `cluster` mapping task types to
      address lists (TF_CONFIG's "cluster"); None unless `strategy` is a
      MultiWorkerMirroredStrategy over more than one task.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    resolver = strategy.cluster_resolver
    cluster = {
        task_type: list(addresses)
        for task_type, addresses in resolver.cluster_spec().as_dict().items()
        if isinstance(addresses, list)
    }
    if sum(len(addresses) for addresses in cluster.values()) < 2:
        return None
    return cluster, (resolver.task_type, int(resolver.task_id))


def is_lost_worker(err):
    """Whether op error `err` is a collective op failing for a lost peer."""
    return isinstance(err, ERRORS) and bool(
        _ABORTED.search(err.message) or _REMOTE_TASK.search(err.message)
    )


def lost_worker(err, cluster, this_task, step, checkpoint):
    """The `WorkerLost` error for a peer lost after `step`.

    Args:
      err: the op error, for which `is_lost_worker(err)` holds.
      cluster: task type -> addresses, as `cluster_of` returns it.
      this_task: `(task_type, task_index)` of this process.
      step: the last step this worker completed.
      checkpoint: the path of the checkpoint a rerun resumes from, or None.
    """
    others = [
        (task_type, index)
        for task_type, addresses in sorted(cluster.items())
        for index in range(len(addresses))
        if (task_type, index) != tuple(this_task)
    ]
    lost = _named_peers(err.message, cluster, others)
    if not lost and len(others) == 1:
        lost = others  # The only peer: the one the collective lost.
    if lost:
        who = "lost " + ", ".join(_describe(task, cluster) for task in lost)
    else:
        who = "lost a worker (TensorFlow's error does not say which of " + (
            ", ".join(_describe(task, cluster) for task in others) + ")"
        )
    resume = (
        f"resume from checkpoint {checkpoint}"
        if checkpoint
        else "start again from step 0 (no checkpoint was written yet)"
    )
    return WorkerLost(
        f"{who} after step {step} ({type(err).__name__}: {_reason(err.message)}); "
        f"training cannot go on: start every worker again (the same command) to "
        f"{resume}"
    )


def _named_peers(message, cluster, others):
    """The tasks among `others` the error names as lost, in cluster order.

    The unhealthy tasks, else the remote targets that did not relay another
    peer's abort, else the tasks whose address the error holds.
    """
    unhealthy = _UNHEALTHY.search(message)
    if unhealthy:
        named = _TASK.findall(unhealthy.group(1))
    else:
        targets = list(_REMOTE_TASK.finditer(message))
        ends = [target.start() for target in targets[1:]] + [len(message)]
        named = []
        for target, end in zip(targets, ends):
            answer = _ANSWER.search(message, target.end(), end)
            if not (answer and _RELAYED.match(message, answer.start())):
                named.append(target.groups())
    tasks = [(task_type, int(index)) for task_type, index in named]
    if not tasks:
        addresses = _ADDRESS.findall(message)
        tasks = [task for task in others if cluster[task[0]][task[1]] in addresses]
    return [task for task in others if task in tasks]


def _describe(task, cluster):
    """ "worker 1 (host:port)"."""
    task_type, index = task
    return f"{task_type} {index} ({cluster[task_type][index]})"


def _reason(message):
    """What TensorFlow says went wrong, on one line of at most 200 characters."""
    aborted = _ABORTED.search(message)
    if aborted:
        line = aborted.group(1)
        if line.endswith(":"):  # "... unhealthy (...):" and the tasks below.
            following = message[aborted.end() :].strip().splitlines()
            line += " " + following[0] if following else ""
    else:
        text = re.sub(r"\{\{[^}]*\}\}\s*", "", message).strip()
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip()
            and not line.startswith(("Graph execution error", "Detected at", "  "))
        ]
        line = lines[0] if lines else "no message"
    line = line.strip()
    return line if len(line) <= 200 else line[:197] + "..."
