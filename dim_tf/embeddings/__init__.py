"""Embeddings of your image files and search among them (dim-embed, dim-neighbours).

`encoders` embeds, `files` writes and reads the outputs, `search` finds
neighbours. This file holds the output names and their checks, run before
TensorFlow is imported: never import TensorFlow here.
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
      names: the files' names relative to the embedded path; item i names row i.
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
    """ "y,fc" (or a sequence of names) -> ("y", "fc"); `UserError` unless all are `TAPS`."""
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
    """`{what: path}` of the files written for `--out=out` (FILE: `out` without its suffix).

    npy: `"y"` -> FILE.npy, another tap -> FILE.TAP.npy, `"names"` ->
    FILE.tsv; tfrecord: `"tfrecord"` -> FILE.tfrecord.

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
    """`UserError` for the first of `paths` that is a directory or exists (unless `overwrite`)."""
    for path in paths.values():
        if os.path.isdir(path):
            raise UserError(f"--out: {path} is a directory; choose another --out")
        if os.path.exists(path) and not overwrite:
            raise UserError(
                f"{path} exists; pass --overwrite to replace it, or another --out"
            )


def check_threshold(threshold):
    """`UserError` unless `threshold` is a cosine similarity, in [-1, 1]."""
    if not -1.0 <= threshold <= 1.0:
        raise UserError(
            f"--threshold is {threshold}; a cosine similarity is in [-1, 1] "
            "(near-duplicates: e.g. 0.998)"
        )


def table_paths(out, sheet=None, pairs=False):
    """The files of `dim-neighbours --queries` or `--duplicates` with `--out=out`.

    Args:
      out: the TSV, FILE.tsv (or FILE: ".tsv" is added).
      sheet: the PNG, or None for FILE.png beside the TSV.
      pairs: also FILE.pairs.tsv (`--duplicates`).

    Returns:
      `{"tsv": path, "png": path}` and, with `pairs`, `"pairs": path`.

    Raises:
      UserError: `out` names a PNG, a directory or no file, or two outputs
        are one file.
    """
    if not out or out.endswith(os.sep) or os.path.isdir(out):
        raise UserError(f"--out {out!r} names no file; pass e.g. --out=found.tsv")
    if out.lower().endswith(".png"):
        raise UserError(
            f"--out {out} names a PNG; --out is the TSV here (e.g. --out=found.tsv, "
            "its picture beside it as found.png, or --sheet=PATH)"
        )
    base = out[: -len(".tsv")] if out.endswith(".tsv") else out
    paths = {"tsv": f"{base}.tsv", "png": sheet or f"{base}.png"}
    if pairs:
        paths["pairs"] = f"{base}.pairs.tsv"
    if len(set(map(os.path.abspath, paths.values()))) < len(paths):
        raise UserError(f"--sheet {sheet} is also a TSV output; choose another")
    for path in paths.values():
        if os.path.isdir(path):
            raise UserError(f"{path} is a directory; choose another --out or --sheet")
    return paths
