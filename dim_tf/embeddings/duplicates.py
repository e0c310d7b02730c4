"""Near-duplicate images: every pair whose Y is at least as cosine-similar as a threshold.

The similarities of all pairs are computed in square blocks of the upper
triangle (float32 products in TensorFlow), so memory holds one block, never
N x N. What is kept is bounded by the images, not by the pairs (n exact
copies are n (n - 1) / 2 pairs):

- groups: the connected components of the pairs (union-find, merged block
  by block), each with the lowest and highest similarity of the pairs that
  link it; a chain a ~ b ~ c groups a with c even if they are less similar
  than the threshold;
- pairs: each image's `pairs_per_image` most similar partners at or above
  the threshold (a pair is kept if it is among either image's).

Why groups first: what a user of a near-duplicate tool acts on is "these
files are one picture"; the pairs say how close each is.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dim_tf.embeddings import check_threshold

# Rows (and columns) per block: a 4096 x 4096 float32 block is 64 MiB.
BLOCK = 4096
# Pairs found per block are pruned to the per-image bound past this many.
_PRUNE_AT = 1 << 20
# Exact copies' float32 products can fall below 1 by rounding: a threshold
# above 1 - _ROUNDING is taken as 1 - _ROUNDING.
_ROUNDING = 1e-6


@dataclasses.dataclass
class Group:
    """Images linked by pairs at or above the threshold.

    Attributes:
      rows: int `[n]` rows of Y (n >= 2), ascending.
      min_similarity: the lowest similarity of a pair at or above the
        threshold within the group.
      max_similarity: the highest.
    """

    rows: np.ndarray
    min_similarity: float
    max_similarity: float


@dataclasses.dataclass
class Duplicates:
    """What `find_duplicates` found.

    Attributes:
      groups: `Group`s, highest `max_similarity` first (then larger, then
        by first row).
      pairs: `(rows_a int [P], rows_b int [P], similarities float32 [P])`,
        rows_a < rows_b, most similar first (then by rows).
    """

    groups: list
    pairs: tuple


def find_duplicates(y, threshold, pairs_per_image=10, block=BLOCK):
    """The groups and pairs of rows of `y` whose cosine similarity is >= `threshold`.

    Args:
      y: float `[N, D]` (a NumPy memory map is read a block at a time).
      threshold: in [-1, 1]; from 1 - 1e-6 up, equal up to float32 rounding.
      pairs_per_image: the most pairs kept per image (>= 1).
      block: rows per block.

    Returns:
      `Duplicates`.
    """
    check_threshold(threshold)
    count = len(y)
    inverse_norms = np.concatenate(
        [np.zeros(0, np.float32)]
        + [
            1.0 / np.maximum(np.linalg.norm(_rows(y, start, block), axis=1), 1e-12)
            for start in range(0, count, block)
        ]
    )
    labels = np.arange(count)  # Each row's group: its smallest row.
    highest = np.full(count, -np.inf, np.float32)
    lowest = np.full(count, np.inf, np.float32)
    found, pending = [], 0
    for a, b, similarity in similar_pairs(y, inverse_norms, threshold, block):
        labels = _merged(labels, a, b)
        for rows in (a, b):
            np.maximum.at(highest, rows, similarity)
            np.minimum.at(lowest, rows, similarity)
        found.append((a, b, similarity))
        pending += len(a)
        if pending > max(_PRUNE_AT, count * pairs_per_image):
            found = [_top_pairs(*_joined(found), pairs_per_image)]
            pending = len(found[0][0])
    a, b, similarity = _top_pairs(*_joined(found), pairs_per_image)
    order = np.lexsort((b, a, -similarity))
    return Duplicates(
        _groups(labels, lowest, highest), (a[order], b[order], similarity[order])
    )


def similar_pairs(y, inverse_norms, threshold, block=BLOCK):
    """Yields each block's pairs `(rows_a, rows_b, similarities)`, a < b, similarity >= threshold.

    Args:
      y: float `[N, D]`.
      inverse_norms: float32 `[N]`, 1 / the norm of each row.
      threshold: in [-1, 1].
      block: rows per block.
    """
    at_least = tf.constant(min(threshold, 1.0 - _ROUNDING), tf.float32)
    for start in range(0, len(y), block):
        left = _unit(y, inverse_norms, start, block)
        for other in range(start, len(y), block):
            right = left if other == start else _unit(y, inverse_norms, other, block)
            where, similarity = _block_pairs(left, right, at_least)
            a, b = where[:, 0] + start, where[:, 1] + other
            upper = a < b  # A diagonal block holds each pair twice and each row once.
            if upper.any():
                yield a[upper], b[upper], similarity[upper]


@tf.function(reduce_retracing=True)
def _block_pairs_graph(left, right, at_least):
    similarity = tf.matmul(left, right, transpose_b=True)
    where = tf.where(similarity >= at_least)
    return where, tf.gather_nd(similarity, where)


def _block_pairs(left, right, at_least):
    """`(int [h, 2] (row in left, row in right), float32 [h])` of a block's similarities >= at_least."""
    where, similarity = _block_pairs_graph(left, right, at_least)
    return where.numpy(), similarity.numpy()


def _rows(y, start, block):
    return np.asarray(y[start : start + block], np.float32)


def _unit(y, inverse_norms, start, block):
    """float32 tensor `[b, D]`: rows `start`.. of `y` scaled to unit length."""
    rows = _rows(y, start, block) * inverse_norms[start : start + block, None]
    return tf.constant(rows)


def _merged(labels, a, b):
    """`labels` (each row's smallest row of its group) after linking rows `a[i]`, `b[i]`."""
    left, right = labels[a], labels[b]
    new = left != right
    if not new.any():
        return labels
    count = len(labels)
    links = coo_matrix(
        (np.ones(int(new.sum()), np.int8), (left[new], right[new])), (count, count)
    )
    _, component = connected_components(links, directed=False)
    smallest = np.full(component.max() + 1, count)
    np.minimum.at(smallest, component, np.arange(count))
    # Edges join groups' smallest rows only: the smallest of a component is its group's.
    return smallest[component[labels]]


def _joined(found):
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return tuple(np.concatenate(parts) for parts in zip(*found))


def _top_pairs(a, b, similarity, per_image):
    """The pairs among each image's `per_image` most similar (ties: the pair found first)."""
    ends = np.concatenate([a, b])
    # One float64 key, image then descending similarity: one sort, not a lexsort.
    # Rows < 2^31 leave 2^-21 of resolution for (1 - similarity) / 4 in [0, 0.5].
    closeness = (1.0 - np.concatenate([similarity, similarity]).astype(np.float64)) / 4
    order = np.argsort(ends + closeness, kind="stable")
    sorted_ends = ends[order]
    starts = np.flatnonzero(np.diff(sorted_ends, prepend=-1))
    sizes = np.diff(np.append(starts, len(order)))
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    keep = np.zeros(len(a), bool)
    keep[order[rank < per_image] % max(1, len(a))] = True
    return a[keep], b[keep], similarity[keep]


def _groups(labels, lowest, highest):
    """The `Group`s of `labels` with two rows or more, in `Duplicates.groups`' order."""
    in_group = np.bincount(labels, minlength=len(labels))[labels] > 1
    order = np.flatnonzero(in_group)
    order = order[np.argsort(labels[order], kind="stable")]
    starts = np.flatnonzero(np.diff(labels[order], prepend=-1))
    groups = []
    for rows in np.split(order, starts[1:]) if len(order) else []:
        low, high = float(lowest[rows].min()), float(highest[rows].max())
        groups.append(Group(np.sort(rows), min(low, 1.0), min(high, 1.0)))
    groups.sort(key=lambda g: (-g.max_similarity, -len(g.rows), g.rows[0]))
    return groups
