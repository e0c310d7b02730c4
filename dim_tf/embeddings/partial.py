"""The partial state of a dim-embed run, `FILE.partial/`: what lets a rerun resume.

While dim-embed runs, each batch's vectors are appended to one raw file per
tap (`TAP.f32`: float32 rows, no header) and the batch's names to
`names.tsv` (escaped as the final `FILE.tsv`), so memory holds one batch,
not the collection. `state.json` records what is embedded (the encoder,
the taps and a digest of the listed images) and the last complete chunk:
the rows written, the listing position reached, the bytes of `names.tsv`
and the names skipped so far. It is rewritten atomically every few seconds
and when the run stops on an exception (Ctrl-C included); a rerun of the
same command cuts the files back to that chunk (after kill -9, what came
after it is embedded again) and goes on from there. The state does not
depend on `--format` or `--batch_size`: the final files are made from the
raw rows at the end (`files.write_streamed`).
"""

import hashlib
import json
import os
import shutil
import time

from dim_tf import workdir as workdir_lib

STATE = "state.json"
NAMES = "names.tsv"
_VERSION = 1


def directory_for(paths):
    """FILE.partial, beside the outputs `output_paths` named (`paths`)."""
    if "tfrecord" in paths:
        return paths["tfrecord"][: -len(".tfrecord")] + ".partial"
    return paths["names"][: -len(".tsv")] + ".partial"


def listing_digest(names):
    """A digest of the listed image names (their order included)."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def identity(encoder, taps, images, names):
    """What a partial state must match to be resumed: `{field: value}` (JSON)."""
    return {
        "version": _VERSION,
        "encoder": encoder,
        "taps": list(taps),
        "images": os.path.abspath(images),
        "count": len(names),
        "listing": listing_digest(names),
    }


_WHAT_DIFFERS = {
    "version": "a partial state of another version",
    "encoder": "another encoder",
    "taps": "other taps",
    "images": "another --images",
    "count": "another listing of images",
    "listing": "another listing of images",
}


class Partial:
    """The raw rows, names and state of one dim-embed run in `directory`.

    Attributes:
      directory: FILE.partial.
      rows: rows (embedded images) in the last complete chunk.
      position: listed files passed (embedded or skipped) by that chunk.
      skipped: names of the files skipped by that chunk.
      resumed: rows an earlier run embedded (0 when started afresh).
    """

    def __init__(self, directory, ident, dims=None):
        self.directory = directory
        self.identity = ident
        self.dims = dict(dims or {})  # {tap: D}, known from the first batch.
        self.rows = 0
        self.position = 0
        self.skipped = []
        self.resumed = 0
        self._names_bytes = 0
        self._files = {}
        self._committed = time.monotonic()

    @classmethod
    def open(cls, directory, ident, overwrite=False, say=None):
        """The state in `directory`: resumed if it matches `ident`, else new.

        Args:
          directory: FILE.partial.
          ident: `identity(...)` of this run.
          overwrite: discard any state (--overwrite).
          say: callable taking a one-line message (why it resumes or starts
            afresh), or None.
        """
        state = None
        if os.path.isdir(directory) and not overwrite:
            state = _read_state(directory)
            if state is None:
                _say(say, f"{directory} holds no readable state; starting afresh")
            else:
                differs = [k for k in ident if state["identity"].get(k) != ident[k]]
                if differs:
                    what = _WHAT_DIFFERS.get(differs[0], differs[0])
                    _say(
                        say,
                        f"{directory} holds an interrupted embedding with {what}; "
                        "starting afresh",
                    )
                    state = None
        if state is None:
            if os.path.isdir(directory) and not os.path.islink(directory):
                shutil.rmtree(directory)
            elif os.path.lexists(directory):
                os.remove(directory)
            os.makedirs(directory)
            partial = cls(directory, ident)
            partial._commit()
            return partial
        partial = cls(directory, ident, state["dims"])
        chunk = state["chunk"]
        partial.rows = partial.resumed = chunk["rows"]
        partial.position = chunk["position"]
        partial.skipped = list(chunk["skipped"])
        partial._names_bytes = chunk["names_bytes"]
        # What a killed run appended after its last complete chunk goes.
        for tap, dim in partial.dims.items():
            _truncate(partial.rows_path(tap), partial.rows * dim * 4)
        _truncate(partial.names_path, partial._names_bytes)
        if partial.rows:
            _say(
                say,
                f"Resuming {directory}: {partial.position:,} of "
                f"{ident['count']:,} images done by an earlier run",
            )
        return partial

    @property
    def names_path(self):
        """`names.tsv`: one escaped name per line, line i naming row i."""
        return os.path.join(self.directory, NAMES)

    def rows_path(self, tap):
        """`TAP.f32`: float32 `[rows, dims[tap]]`, row-major, no header."""
        return os.path.join(self.directory, f"{tap}.f32")

    def append(self, vectors, lines, position, skipped):
        """Appends one batch; a part of it left by an exception is cut on resume.

        Args:
          vectors: `{tap: float32 [b, D_tap]}`.
          lines: the b escaped names, each ending in a newline.
          position: listed files passed once this batch is in.
          skipped: names skipped before `position` since the last batch.
        """
        for tap, rows in vectors.items():
            self.dims.setdefault(tap, rows.shape[1])
            self._file(tap).write(rows.tobytes())
        text = "".join(lines).encode("utf-8", "surrogateescape")
        self._file(NAMES).write(text)
        # The counts change only once the whole batch is written.
        self.rows += len(lines)
        self._names_bytes += len(text)
        self.position = position
        self.skipped.extend(skipped)

    def _file(self, tap):
        if tap not in self._files:
            path = self.names_path if tap == NAMES else self.rows_path(tap)
            self._files[tap] = open(path, "ab")
        return self._files[tap]

    def commit(self, every=0.0):
        """Records the rows written so far as a complete chunk.

        Args:
          every: seconds; commits only when this many passed since the last.
        """
        if time.monotonic() - self._committed >= every:
            self._commit()

    def _commit(self):
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
        chunk = {
            "rows": self.rows,
            "position": self.position,
            "names_bytes": self._names_bytes,
            "skipped": self.skipped,
        }
        state = {"identity": self.identity, "dims": self.dims, "chunk": chunk}
        workdir_lib.write_json(os.path.join(self.directory, STATE), state)
        self._committed = time.monotonic()

    def close(self):
        """Commits and closes the files (the state stays for a rerun)."""
        self._commit()
        for f in self._files.values():
            f.close()
        self._files = {}

    def discard(self):
        """Removes the state (once the final files are in place)."""
        for f in self._files.values():
            f.close()
        self._files = {}
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_state(directory):
    try:
        with open(os.path.join(directory, STATE)) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not {"identity", "dims", "chunk"} <= set(state):
        return None
    return state


def _truncate(path, size):
    if not os.path.exists(path):
        open(path, "wb").close()
    with open(path, "r+b") as f:
        f.truncate(size)


def _say(say, message):
    if say is not None:
        say(message)
