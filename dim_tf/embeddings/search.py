"""The images nearest to a query image, by cosine similarity of Y (dim-neighbours)."""

import dataclasses
import os

import numpy as np

from dim_tf import workdir as workdir_lib
from dim_tf.embeddings import encoders
from dim_tf.embeddings import files as files_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import views
from dim_tf.input import image_files

_THUMBNAIL = 96  # Side of each picture in the grid.


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


def nearest(y, query, k):
    """The `k` rows of `y` most similar to `query` by cosine similarity.

    Args:
      y: `[N, D]` float.
      query: `[D]` float.
      k: how many (at most N are returned).

    Returns:
      `(indices [k] int, similarities [k] float64)`, most similar first,
      ties in row order.
    """
    y = np.asarray(y, np.float64)
    unit = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    query = np.asarray(query, np.float64)
    similarity = unit @ (query / max(np.linalg.norm(query), 1e-12))
    order = np.argsort(-similarity, kind="stable")[:k]
    return order, similarity[order]


def embed_query(encoder, query):
    """Y `[D]` of the image file `query`; `UserError` if it is missing or cannot be decoded."""
    if not os.path.isfile(query):
        raise UserError(f"--query {query!r} is not an image file")
    result = encoders.embed_files(encoder, [query], [query], ("y",))
    if result.skipped:
        raise UserError(
            f"--query {query} cannot be decoded as an image (JPEG, PNG, GIF or BMP)"
        )
    return result.taps["y"][0]


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
    if k < 1:
        raise UserError(f"--k is {k}; it must be at least 1")
    if not os.path.isfile(query):
        raise UserError(f"--query {query!r} is not an image file")
    paths, names = encoders.list_files(images)
    stored = files_lib.read_embeddings(embeddings) if embeddings else None
    encoder = encoder()
    y_query = embed_query(encoder, query)
    if stored is None:
        found = encoders.embed_files(
            encoder, paths, names, ("y",), batch_size, progress
        )
    else:
        found = stored
        if found.taps["y"].shape[1] != len(y_query):
            raise UserError(
                f"--embeddings {embeddings} holds vectors of {found.taps['y'].shape[1]} "
                f"dimensions but this encoder's Y has {len(y_query)}; embed --images "
                "again with this encoder"
            )
    if not found.names:
        raise UserError(f"no image under --images {images} can be decoded")
    root = images if os.path.isdir(images) else os.path.dirname(images)
    index, similarity = nearest(found.taps["y"], y_query, k)
    return Neighbours(
        [os.path.join(root, found.names[i]) for i in index],
        similarity,
        found.skipped,
        encoder.description,
    )


def write_grid(query, neighbours, path):
    """Writes the PNG `path`: the `query` file's picture, framed white, then the `neighbours`'."""
    files = [os.fsencode(path) for path in (query, *neighbours)]  # Any bytes.
    pictures = image_files.load_images(files, 3, _THUMBNAIL).numpy()
    grid = views.query_grid(pictures[0], pictures[1:])
    with workdir_lib.replaced_file(path) as tmp:
        views.save_png(grid, tmp)
