"""The images nearest to query images, by cosine similarity of Y (dim-neighbours).

The searched images are embedded now or read from a `dim-embed` output
(`--embeddings=FILE`, checked against the folder); each query costs one
encoder pass, and all queries are answered together by the blockwise top k
of `dim_tf.evaluators.knn.top_k_similar`.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from dim_tf import workdir as workdir_lib
from dim_tf.embeddings import encoders
from dim_tf.embeddings import files as files_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import knn, views
from dim_tf.input import image_files

THUMBNAIL = 96  # Side of each picture in the grids.


@dataclasses.dataclass
class Neighbours:
    """The images nearest to a query.

    Attributes:
      paths: their file paths, nearest first.
      similarities: float `[k]`, cosine similarity of each one's Y to the query's.
      skipped: names of the searched files that could not be decoded.
      source: what embedded the query.
    """

    paths: list
    similarities: np.ndarray
    skipped: list
    source: str


@dataclasses.dataclass
class Searched:
    """The images searched and their Y.

    Attributes:
      paths: file paths; item i is row i of `y`.
      y: float32 `[N, D]` (a memory map when read from `--embeddings`).
      skipped: names of the files under the folder that could not be decoded.
      source: what embedded them ("" when read from `--embeddings`).
    """

    paths: list
    y: np.ndarray
    skipped: list
    source: str = ""


@dataclasses.dataclass
class Answers:
    """Each query's nearest images (`dim-neighbours --queries`).

    Attributes:
      queries: the query files that decoded, in order.
      paths: `[Q][k]` file paths, nearest first.
      similarities: float32 `[Q, k]`.
      skipped: names of the searched files that could not be decoded.
      skipped_queries: query files that could not be decoded.
      source: what embedded the queries.
    """

    queries: list
    paths: list
    similarities: np.ndarray
    skipped: list
    skipped_queries: list
    source: str


def nearest(y, queries, k):
    """The `k` rows of `y` most similar to each query by cosine similarity.

    Args:
      y: `[N, D]` float.
      queries: `[Q, D]` float, or one query `[D]`.
      k: how many (at most N are returned).

    Returns:
      `(indices int [Q, k], similarities float32 [Q, k])` (`[k]` each for one
      query), most similar first, ties in row order.
    """
    queries = np.asarray(queries, np.float32)
    similarities, rows = knn.top_k_similar(y, np.atleast_2d(queries), k)
    if queries.ndim == 1:
        return rows[0], similarities[0]
    return rows, similarities


def read_searched(images, embeddings, encoder=None):
    """The images under `images` and their Y read from FILE `embeddings` (memory-mapped).

    Args:
      images: the folder (or file) FILE was written for.
      embeddings: FILE of a `dim-embed --images=IMAGES --out=FILE`.
      encoder: None, or a callable returning the `encoders.Encoder`, called
        after FILE's checks: FILE's first image is embedded to check the
        vectors' dimension.

    Raises:
      UserError: FILE is missing or damaged, names other images than the
        folder holds, or (with `encoder`) has another dimension.
    """
    paths, names = encoders.list_files(images)
    stored = files_lib.read_embeddings(embeddings)
    skipped = _check_folder(stored.names, paths, names, images, embeddings)
    root = _root(images)
    found = Searched(
        [os.path.join(root, name) for name in stored.names], stored.taps["y"], skipped
    )
    if encoder is not None:
        first = embed_file(encoder(), found.paths[0], "--images")
        check_dimension(found, len(first), embeddings)
    return found


def embed_searched(encoder, images, batch_size=128, progress=None):
    """The images under `images` and their Y, embedded now by the `encoders.Encoder`.

    Raises:
      UserError: no image decodes.
    """
    paths, names = encoders.list_files(images)
    result = encoders.embed_files(encoder, paths, names, ("y",), batch_size, progress)
    if not result.names:
        raise UserError(f"no image under --images {images} can be decoded")
    root = _root(images)
    return Searched(
        [os.path.join(root, name) for name in result.names],
        result.taps["y"],
        result.skipped,
        encoder.description,
    )


def check_dimension(searched, dimension, embeddings):
    """`UserError` unless the Y read from FILE `embeddings` has `dimension` columns."""
    if searched.y.shape[1] != dimension:
        raise UserError(
            f"--embeddings {embeddings} holds vectors of {searched.y.shape[1]} "
            f"dimensions but this encoder's Y has {dimension}; embed --images "
            "again with this encoder (bin/embed --overwrite)"
        )


def _root(images):
    return images if os.path.isdir(images) else os.path.dirname(images)


def _check_folder(stored, paths, names, images, embeddings):
    """The names under `images` FILE lacks because they do not decode; `UserError` otherwise.

    FILE must name only images under the folder, and every image there
    that decodes: else it was written for another folder, or the folder
    changed since.
    """
    listed = set(names)
    missing = [name for name in stored if name not in listed]
    redo = f"embed it again: bin/embed --images={images} --out={embeddings} --overwrite"
    if missing:
        raise UserError(
            f"--embeddings {embeddings} names {len(missing)} images not under "
            f"--images {images} (first: {missing[0]}); pass the folder it was "
            f"written for, or {redo}"
        )
    kept = set(stored)
    extra = [(p, n) for p, n in zip(paths, names) if n not in kept]
    decoding = [name for path, name in extra if _decodes(path)]
    if decoding:
        raise UserError(
            f"--images {images} holds {len(decoding)} images that --embeddings "
            f"{embeddings} lacks (first: {decoding[0]}; {len(names)} images, "
            f"{len(stored)} rows); {redo}"
        )
    return [name for _, name in extra]


def _decodes(path):
    try:
        tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.OpError, ValueError):
        return False
    return True


def embed_file(encoder, path, flag="--query"):
    """Y `[D]` of the image file `path`; `UserError` if it is missing or cannot be decoded."""
    if not os.path.isfile(path):
        raise UserError(f"{flag} {path!r} is not an image file")
    result = encoders.embed_files(encoder, [path], [path], ("y",))
    if result.skipped:
        raise UserError(
            f"{flag} {path} cannot be decoded as an image (JPEG, PNG, GIF or BMP)"
        )
    return result.taps["y"][0]


def _check_k(k):
    if k < 1:
        raise UserError(f"--k is {k}; it must be at least 1")


def find_neighbours(
    encoder, images, query, k=8, embeddings=None, batch_size=128, progress=None
):
    """The `Neighbours` of the image file `query` among the images under `images`, in Y.

    Args:
      encoder: callable returning the `encoders.Encoder`; called after the
        arguments and files are checked.
      images: the folder (or file) searched.
      query: an image file (one of `images` comes first, similarity 1).
      k: how many neighbours (at most the number of images).
      embeddings: FILE of a `dim-embed --images=IMAGES --out=FILE` by the
        same encoder, searched instead of embedding `images` now.
      batch_size, progress: as `encoders.embed_files`.
    """
    _check_k(k)
    if not os.path.isfile(query):
        raise UserError(f"--query {query!r} is not an image file")
    stored = read_searched(images, embeddings) if embeddings else None
    encoder = encoder()
    y_query = embed_file(encoder, query)
    found = _searched(
        encoder, stored, images, embeddings, len(y_query), batch_size, progress
    )
    index, similarity = nearest(found.y, y_query, k)
    return Neighbours(
        [found.paths[i] for i in index], similarity, found.skipped, encoder.description
    )


def _searched(encoder, stored, images, embeddings, dimension, batch_size, progress):
    """`stored` checked against the queries' `dimension`, or `images` embedded now."""
    if stored is None:
        return embed_searched(encoder, images, batch_size, progress)
    check_dimension(stored, dimension, embeddings)
    return stored


def list_queries(queries):
    """The image files under the folder `queries` (sorted, recursive); `UserError` if none."""
    if not os.path.isdir(queries):
        raise UserError(
            f"--queries {queries!r} is not a folder; pass a folder of query images "
            "(or one image with --query)"
        )
    paths = image_files.list_images(queries)
    if not paths:
        extensions = ", ".join(image_files.IMAGE_EXTENSIONS)
        raise UserError(
            f"--queries {queries} holds no images ({extensions} files, in any "
            "subfolder)"
        )
    return paths


def answer_queries(
    encoder, images, queries, k=8, embeddings=None, batch_size=128, progress=None
):
    """The `Answers`: each image under the folder `queries` and its `k` nearest under `images`.

    Args:
      encoder: callable returning the `encoders.Encoder`; called after the
        arguments and files are checked.
      images, k, embeddings, batch_size, progress: as `find_neighbours`.
      queries: a folder of query images (recursive).

    Raises:
      UserError: bad arguments, or no query image decodes.
    """
    _check_k(k)
    query_paths = list_queries(queries)
    stored = read_searched(images, embeddings) if embeddings else None
    encoder = encoder()
    asked = encoders.embed_files(encoder, query_paths, query_paths, ("y",), batch_size)
    if not asked.names:
        raise UserError(
            f"none of the {len(query_paths)} files under --queries {queries} can be "
            f"decoded as an image (first: {asked.skipped[0]})"
        )
    dimension = asked.taps["y"].shape[1]
    found = _searched(
        encoder, stored, images, embeddings, dimension, batch_size, progress
    )
    rows, similarities = nearest(found.y, asked.taps["y"], k)
    return Answers(
        asked.names,
        [[found.paths[i] for i in row] for row in rows],
        similarities,
        found.skipped,
        asked.skipped,
        encoder.description,
    )


def thumbnails(paths):
    """uint8 RGB `[len(paths), THUMBNAIL, THUMBNAIL, 3]` of image files (any names)."""
    files = [os.fsencode(path) for path in paths]
    return image_files.load_images(files, 3, THUMBNAIL).numpy()


def write_grid(query, neighbours, path):
    """Writes the PNG `path`: the `query` file's picture, framed white, then the `neighbours`'."""
    pictures = thumbnails([query, *neighbours])
    grid = views.query_grid(pictures[0], pictures[1:])
    with workdir_lib.replaced_file(path) as tmp:
        views.save_png(grid, tmp)
