"""The entry points (`dim-train`, ... and their `bin/` wrappers) and their plumbing.

Each of `train`, `evaluate`, `export`, `benchmark`, `embed` and `neighbours`
defines its absl flags and a `main()` (the console script); this module
holds what they share: one-line errors without tracebacks, a quiet start,
progress lines. Only the entry points read absl flags; the library takes
plain values.
"""

import contextlib
import os
import re
import sys
import time

from absl import app, flags, logging

from dim_tf.cli import none_overrides, quiet_start
from dim_tf.errors import Interrupted, TrainingError, UserError, WorkerLost

# Progress lines count from the entry point's start (this import).
_START = time.monotonic()


def set_environment_defaults():
    """The entry points' environment defaults (a user's values win).

    TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ INFO and WARNING lines.
    TF_ENABLE_ONEDNN_OPTS=1: TensorFlow enables oneDNN's CPU kernels (matmul,
    conv) by default only on CPUs with AVX-512 extensions; on AVX2 CPUs they
    multiply matrices several times faster than the default Eigen kernels
    (TF_ENABLE_ONEDNN_OPTS=0 opts out). Must run before TensorFlow is imported.
    NUMPY_MADVISE_HUGEPAGE=0: NumPy asks Linux for transparent huge pages for
    every array of 4 MB or more; where the kernel finds them by compacting
    memory as the array is first written (THP `defrag` set to `madvise`,
    common on VMs), a fresh GB-sized array, such as an evaluation's features,
    takes seconds of system time to fill (BUILD.md, Evaluation speed). Must
    run before NumPy is imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def _fail(message, status=2):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def run(main, flag_values):
    """`absl.app.run(main)`, turning bad flags and `UserError`s into one line.

    Args:
      main: the entry point's body, `main(argv)`.
      flag_values: the `absl.flags.FlagValues` the console script defined its
        flags in (absl's global one); this module never reaches for it itself.

    A flag marked required (`flags.mark_flags_as_required`) that is missing
    gives `error: --NAME is required: its help`.

    A bad flag or config override (absl's own errors, e.g. a mistyped
    `--config.FIELD`) and every `UserError` / `TrainingError` print
    `error: ...` on stderr and exit with status 2; `Interrupted` (a stop
    signal, after a checkpoint) prints its line and exits with 128 + the
    signal's number; `WorkerLost` (another worker of the cluster died) prints
    `error: ...` and exits with `WorkerLost.EXIT_STATUS` (138); other
    exceptions are bugs and keep their traceback.
    Logging is at WARNING unless --verbosity is given, without the TFDS
    warnings `dim_tf.cli.quiet_start` knows to be harmless.
    """

    def guarded(argv):
        # absl raises the default verbosity to INFO, which floods the terminal
        # with TFDS's and TensorFlow's INFO lines; --verbosity=0 brings them back.
        if not flag_values["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            logging.get_absl_handler().addFilter(quiet_start.drop_harmless_log_records)
        try:
            return main(argv)
        except Interrupted as err:
            # A clean stop, not a mistake: the shell's status for the signal.
            sys.stderr.write(f"{err}\n")
            sys.exit(128 + err.signum)
        except WorkerLost as err:  # Every worker must start again: not a mistake.
            _fail(str(err).replace("\n", " "), WorkerLost.EXIT_STATUS)
        except (UserError, TrainingError) as err:
            _fail(str(err).replace("\n", " "))
        except KeyboardInterrupt:
            _fail("interrupted")

    set_environment_defaults()
    _adopt_help(sys.modules[main.__module__], flag_values)
    app.run(guarded, flags_parser=lambda argv: _parse_flags(argv, flag_values))


def _adopt_help(module, flag_values):
    """Makes --help / --helpshort show `module`'s usage and flags.

    absl's help prints the docstring of `__main__` and the flags of
    `sys.argv[0]`, which are the thin wrapper (bin/train) or the generated
    console script (dim-train); the usage and the flags live in `module`.
    """
    main_module = sys.modules["__main__"]
    if main_module is not module and module.__doc__:
        main_module.__doc__ = module.__doc__
    for flag in flag_values.get_key_flags_for_module(module):
        flag_values.register_key_flag_for_module(sys.argv[0], flag)


def _parse_flags(argv, flag_values):
    none_paths = []
    if "config" in flag_values:
        # absl would parse "None" with the field's type (float, int, ...).
        parsed_argv, none_paths = none_overrides.split(argv)
    else:
        parsed_argv = argv
    # The config flag finds its overrides in sys.argv itself, when the config
    # is first loaded (here).
    with _argv(parsed_argv):
        return _parse_flags_in(argv, parsed_argv, none_paths, flag_values)


@contextlib.contextmanager
def _argv(argv):
    """`sys.argv` is `argv` inside the `with` body."""
    saved, sys.argv = sys.argv, list(argv)
    try:
        yield
    finally:
        sys.argv = saved


def _parse_flags_in(argv, parsed_argv, none_paths, flag_values):
    try:
        remaining = flag_values(parsed_argv)
        if "config" in flag_values:
            # The config file loads lazily; a missing or broken file must fail
            # here, as one line, not as a traceback from inside main.
            try:
                config = flag_values["config"].value
                if config is not None:  # Optional for bin/benchmark --workdir.
                    config.get("data")
            except OSError as err:
                reason = str(err).strip().splitlines()[-1].strip()
                _fail(f"the --config file cannot be loaded: {reason}")
            if none_paths and config is None:
                _fail(f"--config.{none_paths[0]}=None needs a --config file")
            message = none_paths and none_overrides.apply(config, none_paths)
            if message:
                _fail(message)
        _note_deprecated_fields(argv)
        return remaining
    except flags.Error as err:
        _fail(_missing_flags_message(err, flag_values) or _one_line(err))
    except Exception as err:  # A config file that fails to load or override.
        message = _unknown_field_message(err, argv)
        _fail(message or f"the config cannot be loaded: {_one_line(err)}")


def _note_deprecated_fields(argv):
    """One stderr line per old field name used, naming its `data.*` field."""
    from dim_tf.config import LEGACY_TOP_LEVEL, LEGACY_TRAIN

    old = {f"--config.{name}": f"--config.data.{name}" for name in LEGACY_TOP_LEVEL}
    old.update({f"--config.train.{n}": f"--config.data.{n}" for n in LEGACY_TRAIN})
    for arg in argv:
        name = arg.split("=")[0]
        if name in old:
            sys.stderr.write(
                f"note: {name} is deprecated and will be removed; use {old[name]} "
                "(the same field)\n"
            )


def _missing_flags_message(err, flag_values):
    """absl's "Flag --workdir must have a value other than None" -> one line.

    None unless `err` is the error of flags marked required that are missing.
    """
    names = re.findall(r"Flag --(\S+) must have a value other than None", str(err))
    if not names:
        return None
    helps = [flag_values[name].help.rstrip(".") for name in names]
    return "; ".join(
        f"--{name} is required: {text[:1].lower()}{text[1:]}"
        for name, text in zip(names, helps)
    )


def _unknown_field_message(err, argv):
    """`--config.a.bx=1` -> "unknown config field 'bx' in --config.a.bx=1 (...)".

    None unless `err` is ml_collections' unknown-field error (a KeyError
    "'name'\\nDid you mean ...", sometimes inside an AttributeError) and a
    `--config.` override names that field; a mistake inside the config file
    itself is not blamed on a flag.
    """
    while err.args and isinstance(err.args[0], BaseException):
        err = err.args[0]
    if not isinstance(err, KeyError) or not err.args:
        return None
    lines = str(err.args[0]).splitlines() or [""]
    key = lines[0].strip("'\"")
    culprit = next(
        (
            arg
            for arg in argv
            if arg.startswith("--config.") and key in arg.split("=")[0].split(".")[1:]
        ),
        None,
    )
    if culprit is None:
        return None
    hint = lines[1].strip() if len(lines) > 1 else "see the config file for its fields"
    return f"unknown config field {key!r} in {culprit} ({hint})"


def _one_line(err):
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:400] + "..."


def reject_extra_arguments(argv):
    """Raises `UserError` for positional arguments (all input goes through flags)."""
    if len(argv) > 1:
        raise UserError(
            f"unexpected arguments {' '.join(argv[1:])!r}; use --flags only"
        )


def start_tensorflow():
    """Imports TensorFlow without its harmless start-up lines (`quiet_start`).

    Entry points call it after their own checks, so those fail fast.
    """
    quiet_start.start_tensorflow()


def command(name):
    """How the user runs entry point `name` here: "bin/NAME" or "dim-NAME".

    "dim-NAME" when this process is a console script (dim-train, ...), so
    the hints a run prints name commands the user has.
    """
    if os.path.basename(sys.argv[0]).startswith("dim-"):
        return f"dim-{name}"
    return f"bin/{name}"


def progress(line, stream=None):
    """Prints a progress line on stderr, with the seconds since the start."""
    print(
        f"[{time.monotonic() - _START:5.0f}s] {line}",
        file=stream or sys.stderr,
        flush=True,
    )


def announced(what, open_fn):
    """`open_fn` wrapped to print the progress line "Loading WHAT" first."""

    def opened():
        progress(f"Loading {what}")
        return open_fn()

    return opened


class CountProgress:
    """A progress line for work counted in items: done/total, items/s, ETA.

    Call it with `(done, total)` as the work goes on, and `finish()` at the
    end. On a terminal the line is redrawn in place; otherwise it is printed
    with `progress` every `every` seconds. The rate counts from the first
    call, so loading a model before it is not part of it.
    """

    def __init__(self, noun="images", every=10.0, stream=None):
        self.noun = noun
        self.every = every
        self.stream = stream or sys.stderr
        self._live = self.stream.isatty()
        self._first = None  # (time, done) of the first call.
        self._shown = None  # Time the line was last shown.
        self._line = None
        self._pending = False  # A state newer than the line shown.
        self.rate = None  # Items per second from the first call to the last.

    def __call__(self, done, total):
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
        start, start_done = self._first
        if now > start and done > start_done:
            self.rate = (done - start_done) / (now - start)
        rate, eta = self.rate, ""
        if rate:
            from dim_tf.training.summaries import format_duration

            remaining = format_duration((total - done) / rate)
            eta = f"  {rate:.0f} {self.noun}/s  ETA {remaining}"
        self._line = f"{done}/{total} {self.noun}{eta}"
        interval = 0.2 if self._live else self.every
        if self._shown is None or now - self._shown >= interval:
            self._show()
            self._shown = now
        else:
            self._pending = True

    def _show(self):
        self._pending = False
        if self._live:
            self.stream.write("\r\033[K" + self._line)
            self.stream.flush()
        else:
            progress(self._line, self.stream)

    def finish(self):
        """Shows the last state if it was not shown yet; ends the live line."""
        if self._pending:
            self._show()
        if self._live and self._line is not None:
            self.stream.write("\n")
            self.stream.flush()


def describe_training_outputs(result):
    """A few lines telling the user where the run's outputs are (and why it
    stopped, when the time budget ended it early)."""
    return "\n".join(
        ([result.stopped_early] if result.stopped_early else [])
        + [
            f"Trained to step {result.step}. Outputs in {result.workdir}:",
            f"  config      {result.workdir}/config.json",
            f"  checkpoint  {result.checkpoint}",
            f"  TensorBoard tensorboard --logdir {result.workdir}",
        ]
    )
