"""The files of `dim-embed`: `.npy` arrays and a `.tsv` of names, or one `.tfrecord`.

The `.tsv` (one column, no header: the TensorBoard projector's metadata)
escapes backslash, tab, newline and carriage return so that each name stays
one line. Each file is renamed into place, the `.tsv` last: a crash leaves
the previous files or the new ones, never half a file. `write_streamed`
makes them from the raw rows dim-embed appended as it went
(`dim_tf.embeddings.partial`), copying in chunks: memory holds a chunk, not
the collection.
"""

import re
import shutil

import numpy as np
import tensorflow as tf

from dim_tf import workdir as workdir_lib
from dim_tf.embeddings import Embeddings, check_embeddings
from dim_tf.errors import UserError

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {escaped[1]: raw for raw, escaped in _ESCAPES.items()}
# Names are str as the file system gave them (undecodable bytes as surrogates).
_TEXT = {"encoding": "utf-8", "errors": "surrogateescape"}


def _write_examples(named_rows, path):
    """Writes `(name, {tap: float32 [D]})` pairs as tf.train.Examples to `path`."""
    with workdir_lib.replaced_file(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        for name, rows in named_rows:
            name_bytes = name.encode(**_TEXT)
            feature = {
                "name": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[name_bytes])
                )
            }
            for tap, row in rows.items():
                feature[tap] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=row)
                )
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


def write_streamed(partial, paths, chunk_rows=4096):
    """Writes the files `paths` names from a finished `partial.Partial`.

    Args:
      partial: `dim_tf.embeddings.partial.Partial` holding every row, closed.
      paths: `output_paths(out, taps, file_format)`, taps those of `partial`.
      chunk_rows: rows in memory at a time (tfrecord).
    """
    count = partial.rows
    if "tfrecord" in paths:
        _write_examples(_streamed_rows(partial, chunk_rows), paths["tfrecord"])
        return
    for tap, dim in partial.dims.items():
        with workdir_lib.replaced_file(paths[tap]) as tmp, open(tmp, "wb") as f:
            # The header np.save writes for a float32 [count, dim] array.
            header = {"descr": "<f4", "fortran_order": False, "shape": (count, dim)}
            np.lib.format.write_array_header_1_0(f, header)
            with open(partial.rows_path(tap), "rb") as rows:
                shutil.copyfileobj(rows, f, 16 << 20)
    with workdir_lib.replaced_file(paths["names"]) as tmp:
        shutil.copyfile(partial.names_path, tmp)


def _streamed_rows(partial, chunk_rows):
    """`(name, {tap: float32 [D]})` of each row of `partial`, in order."""
    rows = {
        tap: np.memmap(
            partial.rows_path(tap), np.float32, "r", shape=(partial.rows, dim)
        )
        for tap, dim in partial.dims.items()
    }
    with open(partial.names_path, **_TEXT) as names:
        for start in range(0, partial.rows, chunk_rows):
            chunk = {
                tap: np.array(r[start : start + chunk_rows]) for tap, r in rows.items()
            }
            for i in range(len(next(iter(chunk.values())))):
                name = _unescape(names.readline().rstrip("\n"))
                yield name, {tap: c[i] for tap, c in chunk.items()}


def read_embeddings(out):
    """The Y rows and names written for `--out=out` (the npy format).

    A float32 `.npy` is memory-mapped, not read: a search reads it a block
    at a time, so its size is bounded by the disk, not by memory.

    Returns:
      `dim_tf.embeddings.Embeddings` with tap "y" only (float32 `[N, D]`).

    Raises:
      UserError: a file is missing or damaged, or the two do not match.
    """
    paths = check_embeddings(out)
    try:
        y = np.load(paths["y"], mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = " ".join(str(err).split())[:200]
        raise UserError(
            f"--embeddings: {paths['y']} is not a .npy array ({reason})"
        ) from None
    with open(paths["names"], **_TEXT) as f:
        names = [_unescape(line.rstrip("\n")) for line in f]
    if y.ndim != 2 or len(y) != len(names):
        raise UserError(
            f"--embeddings: {paths['y']} holds an array of shape {list(y.shape)} but "
            f"{paths['names']} names {len(names)} images; write both again with "
            "bin/embed"
        )
    if y.dtype != np.float32:
        y = y.astype(np.float32)
    return Embeddings(names=names, taps={"y": y})


def tsv_field(name):
    """`name` as one field of a TSV line (tab, newline, backslash escaped as in FILE.tsv)."""
    return _escape(name)


def _escape(name):
    return re.sub(r"[\\\t\n\r]", lambda m: _ESCAPES[m.group()], name)


def _unescape(line):
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group()), line)
