"""A directory of the user's own images as a dataset: its layout, splits and reading.

`data.dataset` is a directory (`settings.dataset_path`) in one of three
layouts, recognised in this order:

tfrecord, classes (`PATH/SPLIT/CLASS/IMAGE`) or images (docs/usage.md).

Images are `.jpg`, `.jpeg`, `.png`, `.bmp` or `.gif` files (any case);
hidden files and folders are left out. A split's images are in a fixed mixed
order (by a hash of their path below PATH), not sorted: the first N of a
split then mix the classes (the probes' `eval.max_train_examples`, MINE's
`eval.mi.examples` and the views read first examples), and adding a
file does not reorder the others. An unlabeled dataset has no eval splits of
its own: its `[fit]` and `[held_out]` parts (every 5th example) stand in.
"""

import dataclasses
import hashlib
import os

import tensorflow as tf
from absl import logging

from dim_tf.errors import UserError
from dim_tf.input import image_files, settings, split_specs, tfrecords

DEFAULT_CHANNELS = 3  # data.channels=None for a directory: RGB.
HELD_OUT_EVERY = 5  # Every 5th example of an unlabeled split is held out.
FIT, HELD_OUT = "fit", "held_out"  # The parts of an unlabeled split.
UNLABELED_SPLIT = "train"  # The one split of the `images` layout.
_SPLIT_FIELDS = ("train_split", "eval_train_split", "eval_split")
# (path, settings) -> (walk snapshot, `Directory`): a start opens one often.
_LISTED = {}
_MAX_LISTED = 4


@dataclasses.dataclass(frozen=True)
class Directory:
    """A directory dataset, its files listed and checked.

    Attributes:
      path: the absolute directory.
      layout: "tfrecord", "classes" or "images".
      files: split name -> its files (images in the mixed order, or TFRecords).
      labels: split name -> class ids per image file (classes layout only).
      class_names: class i's name at index i; () when unlabeled.
    """

    path: str
    layout: str
    files: dict
    labels: dict
    class_names: tuple

    @property
    def labeled(self):
        return bool(self.class_names)


def channels(data):
    """The channels images of a directory are decoded to: `data.channels` or 3."""
    return data.channels or DEFAULT_CHANNELS


def eval_splits(data, directory):
    """`(eval train split, eval split)` of a directory dataset.

    The configured ones when labeled; the `[fit]` and `[held_out]` parts of
    the train split when not.
    """
    if directory.labeled:
        return data.eval_train_split, data.eval_split
    return f"{data.train_split}[{FIT}]", f"{data.train_split}[{HELD_OUT}]"


def open_directory(data):
    """The `Directory` of `data.dataset` (a `config.data` section), listed.

    Raises:
      UserError: anything about the directory a user can get wrong.
    """
    path = settings.dataset_path(data.dataset)
    if path is None or not os.path.isdir(path):
        raise UserError(
            f"data.dataset {data.dataset!r} is not a directory; set it to a "
            "directory of images (or of .tfrecord files) or to a TFDS name"
        )
    records = tfrecords.tfrecord_files(path)
    if records:
        return _tfrecord_directory(path, records, data)
    key = (path, *(data[field] for field in _SPLIT_FIELDS), data.skip_bad_images)
    # What a listing depends on: the visible folders and image file names.
    snapshot = tuple(image_files.walk_images(path))
    listed = _LISTED.get(key)
    if listed is not None and listed[0] == snapshot:
        return listed[1]
    directory = _image_directory(path, data)
    _LISTED.pop(key, None)
    while len(_LISTED) >= _MAX_LISTED:
        _LISTED.pop(next(iter(_LISTED)))
    _LISTED[key] = (snapshot, directory)
    return directory


def _image_directory(path, data):
    """The `classes` or `images` `Directory` of `path`, listed and checked."""
    splits = split_specs.folders_of(data[field] for field in _SPLIT_FIELDS)
    entries = sorted(os.listdir(path))
    folders = [e for e in entries if _visible_dir(path, e)]
    has_images = any(image_files.is_image_name(e) for e in entries)
    if not has_images and any(split in folders for split in splits):
        directory = _classes_directory(path, folders, splits, data)
    else:
        directory = _images_directory(path, data)
    # Slices checked against the listed files (TFRecords: when read).
    counts = {split: len(files) for split, files in directory.files.items()}
    for field in _SPLIT_FIELDS:
        spec = split_specs.parse(data[field])
        if all(folder in counts for folder in spec.folders):
            spec.ranges(counts)
    return directory


def read(data, split, image_size, input_context=None):
    """This input pipeline's share of a split, decoded and fitted, in a fixed order.

    Args:
      data: the `config.data` section.
      split: a split setting ("train[:80%]", "train+extra") or an unlabeled
        split's part ("train[held_out]").
      image_size: S; images are fitted to `image_files.stored_size`.
      input_context: a `tf.distribute.InputContext`; pipeline i of n keeps
        examples i, i + n, ... None = one pipeline.

    Returns:
      `(dataset, listed)`: `tf.data.Dataset` of `{"image": uint8 [s, s, C],
      "label": int32 []}` (-1 when unlabeled) and the examples listed for
      this pipeline (fewer are read when `data.skip_bad_images` skips some).
    """
    directory = open_directory(data)
    spec = _checked_spec(split, directory, data)
    pipelines = input_context.num_input_pipelines if input_context else 1
    index = input_context.input_pipeline_id if input_context else 0
    size = image_files.stored_size(image_size, data.random_crop)
    if directory.layout == "tfrecord":
        label_key = data.label_key if directory.labeled else None
        by_folder = {
            folder: tfrecords.examples(
                directory.files[folder], data.image_key, label_key
            )
            for folder in spec.folders
        }
        pieces = list(by_folder.values())
        if spec.instruction is not None:
            counts = {folder: _count(ds) for folder, ds in by_folder.items()}
            pieces = [
                by_folder[folder].skip(start).take(stop - start)
                for folder, start, stop in spec.ranges(counts)
            ]
        examples = pieces[0]
        for piece in pieces[1:]:
            examples = examples.concatenate(piece)
        if spec.part is not None:
            examples = examples.enumerate().filter(
                lambda i, example: _in_part(i, spec.part)
            )
            examples = examples.map(lambda i, example: example)
        examples = examples.shard(pipelines, index)
        listed = _count(examples)

        def name_of(position):
            return ["record", position, f"of split {split!r} in {directory.path}"]

    else:
        counts = {folder: len(directory.files[folder]) for folder in spec.folders}
        paths, labels = [], []
        for folder, start, stop in spec.ranges(counts):
            paths += directory.files[folder][start:stop]
            folder_labels = directory.labels.get(folder)
            labels += (
                folder_labels[start:stop] if folder_labels else [-1] * (stop - start)
            )
        if spec.part is not None:
            kept = [i for i in range(len(paths)) if _in_part(i, spec.part)]
            paths, labels = [paths[i] for i in kept], [labels[i] for i in kept]
        paths, labels = paths[index::pipelines], labels[index::pipelines]
        listed = len(paths)
        names = tf.constant(paths or [""], tf.string)
        examples = tf.data.Dataset.from_tensor_slices(
            {
                "path": tf.constant(paths, tf.string),
                "label": tf.constant(labels, tf.int32),
            }
        )

        def name_of(position):
            return [tf.gather(names, position)]

    ds = image_files.decoded_examples(
        examples, listed, channels(data), size, data.skip_bad_images, name_of
    )
    return ds, listed


def _count(dataset):
    """The number of elements of `dataset`, read through once."""
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def _in_part(index, part):
    held_out = index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return held_out if part == HELD_OUT else not held_out


def _checked_spec(split, directory, data):
    """The `split_specs.SplitSpec` of `split`; checks its folders exist here."""
    spec = split_specs.parse(split)
    if spec.part is not None and directory.labeled:
        raise UserError(
            f"split {split!r}: the [fit] / [held_out] parts are the eval splits of "
            f"unlabeled datasets; {directory.path} is labeled, name a split folder"
        )
    for folder in spec.folders:
        if folder not in directory.files:
            raise UserError(
                _missing_split_message(
                    folder, directory.path, list(directory.files), data
                )
            )
    return spec


def _missing_split_message(split, path, present, data):
    fields = [
        f"data.{field}"
        for field in _SPLIT_FIELDS
        if split in split_specs.parse(data[field]).folders
    ]
    named_by = f" ({', '.join(fields)})" if fields else ""
    return (
        f"split {split!r}{named_by} is missing in {path}; present: "
        f"{', '.join(present) or 'none'}"
    )


def _visible_dir(path, name):
    return not name.startswith(".") and os.path.isdir(os.path.join(path, name))


def _images_directory(path, data):
    """The `images` layout: every image under `path`, one unlabeled split."""
    if split_specs.parse(data.train_split).folders != (UNLABELED_SPLIT,):
        raise UserError(
            f"{path} holds images without a SPLIT/CLASS folder layout, one "
            f"unlabeled split {UNLABELED_SPLIT!r}; set data.train_split="
            f"{UNLABELED_SPLIT} (it is {data.train_split!r})"
        )
    paths = image_files.list_images(path)
    if not paths:
        raise UserError(
            f"{path} holds no images ({', '.join(image_files.IMAGE_EXTENSIONS)}, "
            "in it or in its subfolders); point data.dataset at a folder of images"
        )
    paths = _checked(paths, path, data.skip_bad_images)
    paths = tuple(sorted(paths, key=lambda p: _mixing_key(p, path)))
    return Directory(path, "images", {UNLABELED_SPLIT: paths}, {}, ())


def _classes_directory(path, folders, splits, data):
    """The `classes` layout: `path/SPLIT/CLASS/IMAGE`."""
    missing = [split for split in splits if split not in folders]
    if missing:
        raise UserError(_missing_split_message(missing[0], path, folders, data))
    classes = {
        split: [
            c
            for c in sorted(os.listdir(os.path.join(path, split)))
            if _visible_dir(os.path.join(path, split), c)
        ]
        for split in splits
    }
    for split, names in classes.items():
        if not names:
            split_dir = os.path.join(path, split)
            raise UserError(
                f"split folder {split_dir} has no class folders; put its images in "
                f"{split_dir}/CLASS/, or set data.dataset={split_dir} to train on them "
                "without labels"
            )
    class_names = tuple(sorted({name for names in classes.values() for name in names}))
    index = {name: i for i, name in enumerate(class_names)}
    files, labels = {}, {}
    for split in splits:
        pairs = [
            (image, index[name])
            for name in classes[split]
            for image in image_files.list_images(os.path.join(path, split, name))
        ]
        if not pairs:
            raise UserError(
                f"split folder {os.path.join(path, split)} holds no images "
                f"({', '.join(image_files.IMAGE_EXTENSIONS)}) in its class folders"
            )
        kept = set(
            _checked(
                [image for image, _ in pairs],
                os.path.join(path, split),
                data.skip_bad_images,
            )
        )
        pairs = sorted(
            [(image, label) for image, label in pairs if image in kept],
            key=lambda pair: _mixing_key(pair[0], path),
        )
        files[split] = tuple(image for image, _ in pairs)
        labels[split] = tuple(label for _, label in pairs)
    return Directory(path, "classes", files, labels, class_names)


def _mixing_key(file_path, root):
    """A file's place in the mixed order: a hash of its path below `root`."""
    relative = os.path.relpath(file_path, root).replace(os.sep, "/")
    return hashlib.md5(relative.encode("utf-8")).hexdigest()


def _checked(paths, where, skip_bad):
    """The paths that look like images; the others raise, or are logged and left out."""
    kept, bad = image_files.checked_images(paths, skip_bad, where)
    if bad:
        logging.warning(
            "Skipping %d of %d files in %s that are not images (first: %s)",
            len(bad),
            len(paths),
            where,
            bad[0],
        )
    return kept


def _tfrecord_directory(path, records, data):
    """The `tfrecord` layout: the files of each configured split, checked."""
    train, eval_train, evaluated = (
        split_specs.parse(data[field]).folders for field in _SPLIT_FIELDS
    )
    files = {
        split: tuple(f for f in records if tfrecords.belongs_to(f, split))
        for split in dict.fromkeys(train + eval_train + evaluated)
    }
    present = tfrecords.split_names(records)
    for split in train:
        if not files[split]:
            raise UserError(_missing_split_message(split, path, present, data))
    labeled = False
    if files[eval_train[0]]:
        first = tfrecords.first_example(files[eval_train[0]][0])
        labeled = first is not None and tfrecords.check_example(
            first, files[eval_train[0]][0], data.image_key, data.label_key
        )
    splits = list(train)
    if labeled:
        splits = list(files)
        missing = [split for split in splits if not files[split]]
        if missing:
            raise UserError(_missing_split_message(missing[0], path, present, data))
    for split in splits:
        first = tfrecords.first_example(files[split][0])
        if first is not None:
            tfrecords.check_example(
                first, files[split][0], data.image_key, data.label_key
            )
    class_names = ()
    if labeled:
        eval_files = sorted(
            {f for split in eval_train + evaluated for f in files[split]}
        )
        count = tfrecords.label_count(eval_files, data.label_key)
        class_names = tuple(str(i) for i in range(count))
    return Directory(
        path, "tfrecord", {split: files[split] for split in splits}, {}, class_names
    )
