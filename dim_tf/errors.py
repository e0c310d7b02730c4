"""The one exception type for mistakes a user can fix.

Entry points in `bin/` catch `UserError` and print its message as a single
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
