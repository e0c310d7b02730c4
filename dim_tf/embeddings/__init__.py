"""Embeddings of your image files and search among them (dim-embed, dim-neighbours).

- `encoders`: what embeds (a trained run or an exported encoder SavedModel)
  and `embed_images`, the whole of dim-embed;
- `files`: the `.npy` / `.tsv` / `.tfrecord` files, written atomically;
- `search`: the nearest images to a query by cosine similarity of Y, and
  their picture grid (dim-neighbours).

This file holds the names and the checks of the outputs, which need no
TensorFlow (the entry points run them before importing it): never import
TensorFlow (or a submodule) here.

Files for `--out=FILE` (`output_paths`): `FILE.npy` (float32 `[N, D]`, Y;
row i is the image on line i of `FILE.tsv`), `FILE.TAP.npy` for the other
taps, `FILE.tsv` (the file names relative to the embedded path, one per
line); or with `--format=tfrecord` one `FILE.tfrecord` of
`tf.train.Example`s (`name` bytes, one float list per tap).
"""

import dataclasses
import os

from dim_tf.errors import UserError

TAPS = ("y", "fc", "conv")  # conv: averaged over its spatial grid.
FORMATS = ("npy", "tfrecord")


@dataclasses.dataclass
class Embeddings:
    """Vectors of image files.

    Attributes:
      names: the files' names (relative to the embedded path), item i
        naming row i.
      taps: `{tap: float32 [N, D_tap]}`.
      skipped: names of the files that could not be read or decoded.
      source: what embedded them ("run DIR at step N", "SavedModel PATH").
    """

    names: list
    taps: dict
    skipped: list = dataclasses.field(default_factory=list)
    source: str = ""


def check_source(workdir, saved_model):
    """Raises `UserError` unless exactly one of the two encoder sources is given."""
    if bool(workdir) == bool(saved_model):
        raise UserError(
            "pass exactly one of --workdir (a run directory) and --encoder "
            "(an exported encoder SavedModel, DIR/export/encoder)"
        )


def check_images(path):
    """Raises `UserError` unless `path` (a folder or an image file) exists."""
    if not path or not os.path.exists(path):
        raise UserError(
            f"--images {path!r} does not exist; pass a folder of images or one "
            "image file"
        )


def check_embeddings(out):
    """The paths of the npy files written for `--out=out`; `UserError` if missing."""
    paths = output_paths(out, ("y",))
    for path in paths.values():
        if not os.path.isfile(path):
            raise UserError(
                f"--embeddings: {path} does not exist; write it with "
                f"bin/embed --images=PATH --out={out}"
            )
    return paths


def parse_taps(text):
    """ "y,fc" (or a sequence of names) -> ("y", "fc").

    Raises:
      UserError: a name is not one of `TAPS`, or none is given.
    """
    text = text if isinstance(text, str) else ",".join(text)
    taps = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [tap for tap in taps if tap not in TAPS]
    if not taps or unknown:
        raise UserError(
            f"--taps {text!r} names {repr(unknown[0]) if unknown else 'no tap'}; "
            f"choose from {', '.join(TAPS)} (comma-separated)"
        )
    return taps


def output_paths(out, taps, file_format="npy"):
    """`{what: path}` of the files written for `--out=out`.

    npy: `"y"` -> FILE.npy, another tap -> FILE.TAP.npy, `"names"` ->
    FILE.tsv, where FILE is `out` without a `.npy` suffix; tfrecord:
    `"tfrecord"` -> FILE.tfrecord (FILE without a `.tfrecord` suffix).

    Raises:
      UserError: `file_format` is not one of `FORMATS`, or `out` is empty.
    """
    if file_format not in FORMATS:
        raise UserError(f"--format {file_format!r} is not one of {', '.join(FORMATS)}")
    suffix = f".{file_format}"
    base = out[: -len(suffix)] if out and out.endswith(suffix) else out
    if not base or base.endswith(os.sep):
        raise UserError(f"--out {out!r} names no file; pass e.g. --out=photos")
    if file_format == "tfrecord":
        return {"tfrecord": base + suffix}
    paths = {tap: f"{base}.npy" if tap == "y" else f"{base}.{tap}.npy" for tap in taps}
    paths["names"] = f"{base}.tsv"
    return paths


def check_outputs(paths, overwrite):
    """Refuses to replace what exists unless `overwrite`, and any directory.

    Args:
      paths: `output_paths(...)`.
      overwrite: existing files may be replaced.

    Raises:
      UserError: naming the first such path.
    """
    for path in paths.values():
        if os.path.isdir(path):
            raise UserError(f"--out: {path} is a directory; choose another --out")
        if os.path.exists(path) and not overwrite:
            raise UserError(
                f"{path} exists; pass --overwrite to replace it, or another --out"
            )
