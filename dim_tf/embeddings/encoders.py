"""What embeds image files (`Encoder`), and `embed_images`, the whole of dim-embed.

A run's checkpoint decodes and transforms each file as the run's evaluation
images; its exported encoder SavedModel gets the file decoded to RGB, fitted
to the signature's H x W when it fixes one (else at its own size, runs of one
size batched), and gives the same vectors to float rounding. Files that
cannot be decoded are skipped, and named (docs/usage.md, Embeddings and search).

`embed_images` streams: each batch's vectors go to disk as they come
(`FILE.partial/`), so memory holds a batch whatever the collection's size,
and a rerun of an interrupted command resumes from its last complete chunk
(`dim_tf.embeddings.partial`).
"""

import copy
import dataclasses
import os

import numpy as np
import tensorflow as tf

from dim_tf.embeddings import (
    Embeddings,
    check_images,
    check_outputs,
    check_source,
    output_paths,
    parse_taps,
)
from dim_tf.embeddings import files as files_lib
from dim_tf.embeddings import partial as partial_lib
from dim_tf.errors import UserError
from dim_tf.input import eval_sets, image_files
from dim_tf.training import runs

# Bytes per batch of images at their own size: 12-megapixel photos fit in memory.
_MAX_BATCH_BYTES = 48 << 20
_EXPORT_HINT = "pass the encoder SavedModel bin/export wrote (DIR/export/encoder)"


class Encoder:
    """Embeds image files: `batches(paths, batch_size)` -> `(paths, outputs)`.

    Attributes:
      description: what embeds, for messages ("run DIR at step N").
      identity: what tells this encoder from another, for a resumed
        dim-embed (absolute paths, the step or the SavedModel's fingerprint).
    """

    def __init__(self, description, batches, keep=None, identity=None):
        self.description = description
        self.identity = identity or description
        self._batches = batches
        self._keep = keep  # What `batches` needs alive (a loaded SavedModel).

    def batches(self, paths, batch_size):
        """Yields `(bytes paths [b], {"local", "conv", "fc", "y": [b, ...]})` of files that decode."""
        return self._batches([os.fsencode(path) for path in paths], batch_size)

    @classmethod
    def from_workdir(cls, workdir):
        """The latest checkpoint of the run in `workdir` (`runs.load_run`)."""
        return cls.from_run(runs.load_run(workdir))

    @classmethod
    def from_run(cls, run):
        """A loaded `dim_tf.training.runs.Run`'s encoder."""
        data = copy.deepcopy(run.config.data)
        data.skip_bad_images = True  # A bad file is found by its absence.
        encode = tf.function(
            lambda images: run.encoder(images, training=False), reduce_retracing=True
        )

        def batches(paths, batch_size):
            files = eval_sets.make_files_dataset(
                paths, data, run.image_size, batch_size, run.raw_image_shape
            )
            for images, names in _without_autotuning(files):
                yield names.numpy(), encode(images)

        return cls(
            f"run {run.workdir} at step {run.step}",
            batches,
            identity=f"run {os.path.abspath(run.workdir)} at step {run.step}",
        )

    @classmethod
    def from_saved_model(cls, path):
        """An encoder SavedModel that dim-export wrote (`DIR/export/encoder`)."""
        loaded, serve, (height, width, channels) = _encoder_signature(path)
        fixed = bool(height and width)

        def decoded(file):
            # RGB drops only alpha, as the pipeline does; grey -> RGB -> grey is exact.
            image = image_files.decode(tf.io.read_file(file), channels or 3)
            return file, image_files.fit(image, (height, width)) if fixed else image

        def batches(paths, batch_size):
            files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string))
            # A file that fails is dropped here and found by its absence.
            files = files.map(decoded, tf.data.AUTOTUNE).ignore_errors()
            files = _without_autotuning(files)
            if fixed:
                groups = files.batch(batch_size).prefetch(tf.data.AUTOTUNE)
                groups = groups.as_numpy_iterator()
            else:
                groups = _same_size_runs(files.prefetch(64), batch_size)
            for names, images in groups:
                yield names, serve(images=tf.constant(images))

        return cls(
            f"SavedModel {path}",
            batches,
            keep=loaded,
            identity=f"SavedModel {os.path.abspath(path)} {_fingerprint(path)}",
        )


def _fingerprint(path):
    """The SavedModel's checksum, which changes when it is exported again."""
    try:
        fingerprint = tf.saved_model.experimental.read_fingerprint(path)
    except (OSError, ValueError, tf.errors.OpError):
        return f"modified {os.path.getmtime(os.path.join(path, 'saved_model.pb'))}"
    return f"checksum {fingerprint.saved_model_checksum}"


def _without_autotuning(dataset):
    """`dataset` with tf.data's autotuning off (AUTOTUNE: as many calls as cores).

    Deleting an autotuned iterator at the end of a long collection waited
    for its tuning thread, a wait that grew with the run's length; a fixed
    pipeline ends at once and embeds as fast (BUILD.md, dim-embed).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def open_encoder(workdir=None, saved_model=None):
    """The `Encoder` of exactly one of a run directory and an encoder SavedModel."""
    check_source(workdir, saved_model)
    if workdir:
        return Encoder.from_workdir(workdir)
    return Encoder.from_saved_model(saved_model)


def _encoder_signature(path):
    """`(loaded, serving signature, (H, W, C) of its images input)`, checked."""
    if not os.path.isdir(path):
        raise UserError(f"--encoder {path!r} is not a directory; {_EXPORT_HINT}")
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as err:
        reason = " ".join(str(err).split())[:200]
        raise UserError(
            f"--encoder {path} cannot be loaded as a SavedModel ({reason}); "
            f"{_EXPORT_HINT}"
        ) from None
    serve = loaded.signatures.get("serving_default")
    spec = serve.structured_input_signature[1].get("images") if serve else None
    outputs = set(serve.structured_outputs) if serve else set()
    if (
        spec is None
        or spec.dtype != tf.uint8
        or spec.shape.rank != 4
        or not {"y", "fc", "conv"} <= outputs
    ):
        raise UserError(
            f"--encoder {path} is not an encoder SavedModel (its serving_default "
            f"signature gives {', '.join(sorted(outputs)) or 'nothing'}); "
            f"{_EXPORT_HINT}, not a probe"
        )
    return loaded, serve, tuple(spec.shape[1:])


def _same_size_runs(files, batch_size):
    """`(paths, images)` batches of consecutive equally sized images, in order."""
    paths, images = [], []
    for path, image in files.as_numpy_iterator():
        if images and (
            image.shape != images[0].shape
            or len(images) == batch_size
            or (len(images) + 1) * image.nbytes > _MAX_BATCH_BYTES
        ):
            yield paths, np.stack(images)
            paths, images = [], []
        paths.append(path)
        images.append(image)
    if images:
        yield paths, np.stack(images)


def list_files(path):
    """`(paths, names relative to path)` of the images under `path` (sorted, recursive).

    Raises:
      UserError: `path` is missing or holds no images.
    """
    check_images(path)
    if not os.path.isdir(path):
        return [path], [os.path.basename(path)]
    paths = image_files.list_images(path)
    if not paths:
        extensions = ", ".join(image_files.IMAGE_EXTENSIONS)
        raise UserError(
            f"--images {path} holds no images ({extensions} files, in any subfolder)"
        )
    return paths, [os.path.relpath(p, path) for p in paths]


def tap_vectors(tap):
    """One float32 vector per image: `[B, D]` kept, `[B, M, M, C]` averaged over M x M."""
    tap = np.asarray(tap, np.float32)
    return tap.mean(axis=(1, 2)) if tap.ndim == 4 else tap.reshape(len(tap), -1)


def embed_files(encoder, paths, names, taps, batch_size=128, progress=None):
    """`Embeddings` of the image files `paths` (called `names`); undecodable ones skipped.

    Args:
      encoder: `Encoder`.
      paths, names: image file paths, and what the result calls each.
      taps: taps to keep (`dim_tf.embeddings.TAPS`).
      batch_size: images per encoder call.
      progress: callable `(done, total)` after each batch, or None.
    """
    name_of = {os.fsencode(path): name for path, name in zip(paths, names)}
    rows, done = {tap: [] for tap in taps}, []
    for batch_paths, outputs in encoder.batches(paths, batch_size):
        for tap in taps:
            rows[tap].append(tap_vectors(outputs[tap]))
        done.extend(name_of[path] for path in batch_paths)
        if progress is not None:
            progress(len(done), len(paths))
    embedded = set(done)
    return Embeddings(
        names=done,
        taps={
            tap: np.concatenate(parts) if parts else np.zeros([0, 0], np.float32)
            for tap, parts in rows.items()
        },
        skipped=[name for name in names if name not in embedded],
        source=encoder.description,
    )


@dataclasses.dataclass
class Embedded:
    """What `embed_images` wrote (the vectors themselves are in the files).

    Attributes:
      count: N, the images embedded (rows of each file).
      dims: `{tap: D_tap}`.
      skipped: names of the files that could not be read or decoded.
      source: what embedded them ("run DIR at step N", "SavedModel PATH").
      resumed: rows an interrupted earlier run had embedded (0: none).
    """

    count: int
    dims: dict
    skipped: list
    source: str
    resumed: int = 0


def embed_images(
    images,
    out,
    encoder,
    taps="y",
    file_format="npy",
    overwrite=False,
    batch_size=128,
    progress=None,
    say=None,
    commit_every=5.0,
):
    """Embeds every image under `images` and writes the files for `--out=out`.

    Streams: each batch's rows are appended to `FILE.partial/` and the final
    files are made from them at the end, each renamed into place; memory
    holds a batch (and the listing), not the collection. A rerun after an
    interruption (an exception, Ctrl-C, kill -9) with the same encoder, taps
    and images embeds only what its last complete chunk lacks; another
    encoder, taps or images start afresh (saying why), as does `overwrite`.

    Args:
      images: a folder (every image under it, sorted) or one image file.
      out: FILE of the outputs (`dim_tf.embeddings.output_paths`).
      encoder: callable returning the `Encoder`, called once the arguments
        passed their checks; nothing is written unless an image embeds.
      taps: comma-separated taps or a sequence of them.
      file_format, overwrite: as `output_paths`, `check_outputs`.
      batch_size: images per encoder call.
      progress: callable `(files done, files listed)` after each batch (the
        done count includes skipped files and an earlier run's), or None.
      say: callable taking a one-line message (resuming, starting afresh).
      commit_every: seconds between the chunks a rerun resumes from; an
        exception also ends a chunk, so only kill -9 loses up to this much.

    Returns:
      `(Embedded, {what: path written})`.
    """
    taps = parse_taps(taps)
    paths = output_paths(out, taps, file_format)
    check_outputs(paths, overwrite)
    files, names = list_files(images)
    opened = encoder()
    ident = partial_lib.identity(opened.identity, taps, images, names)
    state = partial_lib.Partial.open(
        partial_lib.directory_for(paths), ident, overwrite, say
    )
    try:
        _embed_rest(
            opened, files, names, taps, batch_size, progress, state, commit_every
        )
    finally:
        state.close()
    if not state.rows:
        state.discard()
        raise UserError(
            f"none of the {len(files)} files under --images {images} can be "
            f"decoded as an image (first: {state.skipped[0]}); nothing written"
        )
    files_lib.write_streamed(state, paths)
    state.discard()
    result = Embedded(
        count=state.rows,
        dims={tap: state.dims[tap] for tap in taps},
        skipped=state.skipped,
        source=opened.description,
        resumed=state.resumed,
    )
    return result, paths


def _embed_rest(encoder, files, names, taps, batch_size, progress, state, every):
    """Embeds `files[state.position:]` into `state`, a chunk every `every` s."""
    index = state.position
    rest = files[index:] if index < len(files) else []
    batches = encoder.batches(rest, batch_size) if rest else ()
    for batch_paths, outputs in batches:
        lines, skipped = [], []
        # Batches keep the listing's order; a file missing from them is skipped.
        for path in batch_paths:
            while os.fsencode(files[index]) != path:
                skipped.append(names[index])
                index += 1
            lines.append(files_lib.tsv_field(names[index]) + "\n")
            index += 1
        vectors = {tap: tap_vectors(outputs[tap]) for tap in taps}
        state.append(vectors, lines, index, skipped)
        state.commit(every)
        if progress is not None:
            progress(index, len(files))
    state.append({}, [], len(files), names[index:])
