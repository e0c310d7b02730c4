"""The exceptions entry points turn into one line and an exit status; any other is a bug."""


class UserError(ValueError):
    """Bad flag, config value, dataset, workdir or input; says what is allowed."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says why."""


class Interrupted(TrainingError):
    """A stop signal `signum` ended training after a checkpoint: exit status 128 + signum."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class WorkerLost(TrainingError):
    """Another worker was lost: exit 128 + SIGUSR1 (unused), which Kubeflow TFJobs retry."""

    EXIT_STATUS = 138
