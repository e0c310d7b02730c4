"""The exception types entry points turn into one line and an exit status.

Entry points in `bin/` catch `UserError` (a mistake a user can fix) and
`TrainingError` (training cannot go on) and print the message as a single
line with a non-zero exit status; every other exception is a bug and keeps its
traceback.
"""


class UserError(ValueError):
    """Bad flag, config value, dataset, workdir or input; says what is allowed."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says why."""


class Interrupted(TrainingError):
    """A stop signal ended training early, after saving a checkpoint.

    Attributes:
      signum: the signal's number; entry points exit with status 128 + signum,
        the shell's convention for a process ended by that signal.
    """

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class WorkerLost(TrainingError):
    """Another worker of a multi-worker cluster was lost; the run cannot go on.

    Entry points exit with `EXIT_STATUS`, 138: like a stop signal's
    128 + N, and unlike a mistake's 2, it means "start every worker again to
    resume". Kubeflow's training operator (TFJob `restartPolicy: ExitCode`)
    restarts on statuses from 128 up and reserved 138 (128 + SIGUSR1, a
    signal dim_tf neither sends nor catches) for a failure worth retrying.
    """

    EXIT_STATUS = 138
