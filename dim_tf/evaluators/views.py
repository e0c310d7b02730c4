"""TensorBoard views of a representation: neighbours, projector, codes, local MI maps.

Drawn with NumPy, written with `tf.summary` and the projector plugin's
files, so TensorBoard alone shows them (docs/usage.md). Images are model
input in [-1, 1], drawn as uint8 RGB.
"""

import math
import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators import report
from dim_tf.models import priors
from dim_tf.training import health

_QUERY_FRAME = (255, 255, 255)
_MATCH_FRAME = (40, 180, 70)
_MISMATCH_FRAME = (220, 40, 40)
_UNLABELED_FRAME = (150, 150, 150)
_BACKGROUND = (40, 40, 40)
_MIN_CELL = 56  # Small images are enlarged to about this many pixels.
# Anchors of a dark-to-bright colour map (close to matplotlib's "inferno").
_HEAT_COLOURS = np.array(
    [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)],
    np.float32,
)


def write_views(run, features, step=None):
    """Writes the views to `DIR/eval` (the image views also as PNG files).

    Args:
      run: `dim_tf.training.runs.Run`.
      features: `dim_tf.evaluators.features.Features` of the eval split with
        "y" and images kept.
      step: the summaries' step (None = the run's).
    """
    view_config = run.config.eval.views
    step = run.step if step is None else step
    logdir = os.path.join(run.workdir, report.EVAL_LOGDIR)
    images, y = features.images, features.taps["y"]
    count = len(images)
    labels = features.labels[:count] if run.labeled else None
    writer = tf.summary.create_file_writer(logdir)
    try:
        grid = neighbour_grid(
            images,
            labels,
            y[:count],
            view_config.neighbour_queries,
            view_config.neighbours,
        )
        with writer.as_default(step=step):
            tf.summary.image("neighbours", grid[None], step=step)
        save_png(grid, os.path.join(logdir, "neighbours.png"))
        write_code_histograms(writer, step, y, run.config.objective.prior)
        critic = run.trainer.local_critic
        if critic is not None:
            shown = images[: view_config.map_images]
            if "images" in features.pooled and len(shown):
                shown = _model_inputs(run, len(shown))  # The encoder's own size.
            maps = positive_local_scores(run.encoder, critic, shown)
            grid = local_mi_grid(shown, maps)
            with writer.as_default(step=step):
                tf.summary.image("local_mi_map", grid[None], step=step)
            save_png(grid, os.path.join(logdir, "local_mi_map.png"))
    finally:
        writer.close()
    shown = min(count, view_config.projector_examples)
    write_projector(
        logdir,
        y[:shown],
        None if labels is None else labels[:shown],
        run.class_names,
        images[:shown],
    )


def _model_inputs(run, count):
    """The first `count` images of the eval split as the encoder takes them."""
    batches = features_lib.eval_dataset(run, run.eval_split)
    return next(iter(batches.unbatch().batch(count).take(1)))[0].numpy()


def write_scalars(workdir, step, pairs):
    """Writes `(name, value)` pairs as TensorBoard scalars at `step` in `DIR/eval`."""
    writer = tf.summary.create_file_writer(os.path.join(workdir, report.EVAL_LOGDIR))
    try:
        with writer.as_default(step=step):
            for name, value in pairs:
                tf.summary.scalar(name, value)
    finally:
        writer.close()


def to_rgb_uint8(images):
    """Model input `[N, S, S, C]` in [-1, 1] -> uint8 RGB `[N, S, S, 3]`."""
    images = np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255)
    images = np.round(images).astype(np.uint8)
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    if images.shape[-1] == 2:
        return np.concatenate([images, images[..., :1]], axis=-1)
    return images[..., :3]


def nearest_neighbours(y, queries, k):
    """int `[Q, k]`: the `k` nearest other rows of `y [N, D]` (cosine) to rows `queries [Q]`."""
    y = np.asarray(y, np.float64)
    unit = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    similarity = unit[queries] @ unit.T  # [Q, N]
    similarity[np.arange(len(queries)), queries] = -np.inf
    k = min(k, len(y) - 1)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def spread_queries(labels, count):
    """`count` row indices that cycle through the classes (first of each, ...)."""
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    chosen = []
    for rank in range(max(len(rows) for rows in by_class)):
        for rows in by_class:
            if rank < len(rows) and len(chosen) < count:
                chosen.append(int(rows[rank]))
    return np.array(chosen, np.int64)


def neighbour_grid(images, labels, y, queries=8, k=8):
    """uint8 RGB `[H, W, 3]`: per query row, the query then its `k` neighbours in Y.

    Args:
      images: `[N, S, S, C]` model input in [-1, 1].
      labels: `[N]` int labels (frames green on a match, red if not), or None.
      y: `[N, D]` representations of the same images.
      queries, k: query rows (spread over the classes), neighbours per row.
    """
    count = min(queries, len(y))
    if labels is None:
        rows = np.linspace(0, len(y) - 1, count).round().astype(np.int64)
    else:
        rows = spread_queries(labels, count)
    neighbours = nearest_neighbours(y, rows, k)
    rgb = _enlarge(to_rgb_uint8(images))

    def frame(j, query):
        if labels is None:
            return _UNLABELED_FRAME
        return _MATCH_FRAME if labels[j] == labels[query] else _MISMATCH_FRAME

    grid = []
    for query, near in zip(rows, neighbours):
        cells = [_framed(rgb[query], _QUERY_FRAME)]
        cells += [_framed(rgb[j], frame(j, query)) for j in near]
        grid.append(cells)
    return _tile(grid)


def query_grid(query, neighbours, per_row=9):
    """The grid `dim-neighbours` writes: a query (white frame), then its neighbours.

    Args:
      query: uint8 RGB `[h, w, 3]`.
      neighbours: uint8 RGB `[k, h, w, 3]`, nearest first.
      per_row: cells per row.

    Returns:
      uint8 RGB image `[H, W, 3]`.
    """
    cells = [_framed(query, _QUERY_FRAME)]
    cells += [_framed(image, _UNLABELED_FRAME) for image in neighbours]
    return _tile([cells[i : i + per_row] for i in range(0, len(cells), per_row)])


def framed_rows(rows):
    """The grids of `dim-neighbours --queries` and `--duplicates`: one row per list of pictures.

    The first picture of each row (a query, or a group's first image) is
    framed white, the others grey.

    Args:
      rows: lists of uint8 RGB `[h, w, 3]` pictures of one size, each list
        non-empty; none gives one empty cell.

    Returns:
      uint8 RGB image `[H, W, 3]`.
    """
    if not rows:
        return _tile([[np.full((_MIN_CELL, _MIN_CELL, 3), _BACKGROUND, np.uint8)]])
    return _tile(
        [
            [_framed(row[0], _QUERY_FRAME)]
            + [_framed(picture, _UNLABELED_FRAME) for picture in row[1:]]
            for row in rows
        ]
    )


def heat_overlay(images, maps, alpha=0.6):
    """Heat maps drawn over images.

    Args:
      images: `[N, S, S, C]` model input in [-1, 1].
      maps: `[N, M, M]` float, each scaled to [0, 1] on its own.
      alpha: opacity of the heat map.

    Returns:
      uint8 RGB `[N, S, S, 3]`.
    """
    maps = np.asarray(maps, np.float32)
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    scaled = (maps - low) / np.maximum(high - low, 1e-12)
    size = images.shape[1:3]
    upsampled = tf.image.resize(scaled[..., None], size, method="bilinear").numpy()
    heat = _colour_map(np.clip(upsampled[..., 0], 0.0, 1.0))
    base = to_rgb_uint8(images).astype(np.float32)
    return np.round((1.0 - alpha) * base + alpha * heat).astype(np.uint8)


def local_mi_grid(images, maps):
    """Pairs (image, heat overlay) side by side, four pairs per row: uint8 RGB."""
    return pairs_grid(to_rgb_uint8(images), heat_overlay(images, maps))


def pairs_grid(left, right, pairs_per_row=4):
    """uint8 RGB `[H, W, 3]`: pairs of uint8 RGB `left[i]`, `right[i]` side by side."""
    cells = []
    for a, b in zip(_enlarge(left), _enlarge(right)):
        cells += [_framed(a, _BACKGROUND), _framed(b, _BACKGROUND)]
    per_row = 2 * pairs_per_row
    return _tile([cells[i : i + per_row] for i in range(0, len(cells), per_row)])


def positive_local_scores(encoder, critic, images):
    """float32 `[n, M, M]`: local critic scores of each image's Y with its local vectors."""
    features = encoder(images, training=False)
    scores = health.critic_scores(critic, features)  # [n, n, L]
    positives = tf.linalg.diag_part(tf.transpose(scores, [2, 0, 1]))  # [L, n]
    side = features["local"].shape[1], features["local"].shape[2]
    return tf.reshape(tf.transpose(positives), [-1, *side]).numpy()


def write_projector(logdir, y, labels, class_names, images):
    """Writes the embedding projector's files for Y of images to `logdir`.

    Args:
      logdir: the TensorBoard run directory (e.g. DIR/eval).
      y: `[N, D]` float.
      labels: `[N]` int, or None.
      class_names: names of the label ids.
      images: `[N, S, S, C]` model input in [-1, 1].
    """
    tf.io.gfile.makedirs(logdir)
    y = np.asarray(y, np.float32)
    with tf.io.gfile.GFile(os.path.join(logdir, "projector_y.tsv"), "w") as f:
        for row in y:
            f.write("\t".join(f"{v:.6g}" for v in row) + "\n")
    metadata = os.path.join(logdir, "projector_metadata.tsv")
    if labels is not None:
        with tf.io.gfile.GFile(metadata, "w") as f:
            f.write("label\tclass\n")
            for label in labels:
                f.write(f"{int(label)}\t{class_names[int(label)]}\n")
    elif tf.io.gfile.exists(metadata):
        tf.io.gfile.remove(metadata)  # An earlier evaluation's labels.
    sprite, cell = _sprite(to_rgb_uint8(images))
    tf.io.write_file(
        os.path.join(logdir, "projector_sprite.png"), tf.io.encode_png(sprite)
    )
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "y"
    embedding.tensor_path = "projector_y.tsv"
    if labels is not None:
        embedding.metadata_path = "projector_metadata.tsv"
    embedding.sprite.image_path = "projector_sprite.png"
    embedding.sprite.single_image_dim.extend([cell[1], cell[0]])
    projector.visualize_embeddings(logdir, config)


def write_code_histograms(writer, step, y, prior_name, seed=0):
    """Histograms of what prior matching acts on, beside samples of the prior.

    `prior_name` "none" compares sigmoid(Y) with the paper's uniform prior.
    """
    name = "uniform" if prior_name == "none" else prior_name
    codes = priors.code_for_prior(name, y)
    samples = priors.sample_prior(
        name, int(codes.shape[0]), int(codes.shape[1]), tf.constant([seed, step])
    )
    code_name = "sigmoid_y" if name == "uniform" else "y"
    with writer.as_default(step=step):
        tf.summary.histogram(f"codes/{code_name}", codes)
        tf.summary.histogram(f"codes/{name}_prior_samples", samples)


def write_image(workdir, step, tag, image, file_name):
    """Writes uint8 RGB `[H, W, 3]` to `DIR/eval`: TensorBoard image `tag` and PNG `file_name`."""
    logdir = os.path.join(workdir, report.EVAL_LOGDIR)
    writer = tf.summary.create_file_writer(logdir)
    try:
        with writer.as_default(step=step):
            tf.summary.image(tag, image[None], step=step)
    finally:
        writer.close()
    save_png(image, os.path.join(logdir, file_name))


def save_png(image, path):
    """Writes uint8 `[H, W, 3]` as a PNG file."""
    tf.io.write_file(path, tf.io.encode_png(tf.constant(image, tf.uint8)))


def _colour_map(values):
    """`[...]` in [0, 1] -> float32 RGB `[..., 3]` in 0..255."""
    position = values * (len(_HEAT_COLOURS) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(_HEAT_COLOURS) - 2)
    frac = (position - low)[..., None]
    return (1.0 - frac) * _HEAT_COLOURS[low] + frac * _HEAT_COLOURS[low + 1]


def _enlarge(images):
    """Nearest-neighbour upscaling of `[N, S, S, 3]` so a cell is about _MIN_CELL px."""
    factor = max(1, _MIN_CELL // max(images.shape[1], images.shape[2]))
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def _framed(image, colour, width=2):
    height, wide = image.shape[:2]
    out = np.empty((height + 2 * width, wide + 2 * width, 3), np.uint8)
    out[...] = colour
    out[width : width + height, width : width + wide] = image
    return out


def _tile(rows, gap=2):
    """Rows of equally sized uint8 cells -> one image with `gap` px between cells."""
    cell_h, cell_w = rows[0][0].shape[:2]
    columns = max(len(row) for row in rows)
    height = len(rows) * (cell_h + gap) + gap
    width = columns * (cell_w + gap) + gap
    out = np.empty((height, width, 3), np.uint8)
    out[...] = _BACKGROUND
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            top, left = gap + r * (cell_h + gap), gap + c * (cell_w + gap)
            out[top : top + cell_h, left : left + cell_w] = cell
    return out


def _sprite(images):
    """Square sprite sheet of `[N, h, w, 3]` thumbnails and the thumbnail size."""
    count, height, width = images.shape[:3]
    side = int(math.ceil(math.sqrt(count)))
    sheet = np.zeros((side * height, side * width, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, side)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return sheet, (height, width)
