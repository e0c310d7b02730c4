"""Finding, preparing and describing datasets: TFDS by name, or a directory.

Any TFDS image dataset works by name (`digits`, embedded, builds offline).
`prepared_builder` returns a builder whose data is on disk, preparing it from
the network or `manual_dir` first; the other functions read a dataset's
metadata. A directory of the user's own images (`dim_tf.input.folders`) is a
dataset too; `describe` tells what the rest of dim_tf needs to know of either
kind. A user's mistake (unknown dataset, split or feature, a dataset that
is not prepared and cannot be downloaded, a bad directory) raises a one-line
`dim_tf.errors.UserError`.
"""

import dataclasses
import difflib
import os
import re
import socket
import urllib.parse

import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf.errors import UserError
from dim_tf.input import (
    digits,  # noqa: F401  (registers the TFDS builders; no reliance on the import hook)
    folders,
    settings,
)

# `tfds.testing.mock_data` replaces this method with a no-op; only the real one
# downloads, so only it needs the network check below. (The class dict holds a
# wrapper whose attribute access makes a new object each time.)
_TFDS_DOWNLOAD_AND_PREPARE = vars(tfds.core.DatasetBuilder)["download_and_prepare"]
_PROBE_TIMEOUT_S = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


@dataclasses.dataclass(frozen=True)
class Description:
    """What the models, evaluators and exports need to know of a dataset.

    Attributes:
      name: the TFDS name, or the directory's absolute path.
      raw_image_shape: `(H, W, C)` of the images exported models take: the
        stored shape for TFDS, `(None, None, C)` for a directory (any size).
      channels: C of the encoder's input (`data.channels`, or the stored one).
      class_names: label names, index i naming class i; () when unlabeled
        (or, for TFDS, not read: `describe(..., with_classes=False)`).
      eval_train_split, eval_split: the splits the probes train and are
        measured on (for an unlabeled directory, the `[fit]` and
        `[held_out]` parts of its train split).
    """

    name: str
    raw_image_shape: tuple
    channels: int
    class_names: tuple
    eval_train_split: str
    eval_split: str

    @property
    def labeled(self):
        return bool(self.class_names)


def is_directory(dataset):
    """Whether `data.dataset` names a directory (`settings.dataset_path`)."""
    return settings.dataset_path(dataset) is not None


def describe(data, with_classes=True):
    """The `Description` of the dataset `data.dataset`, TFDS or directory.

    Args:
      data: the `config.data` section.
      with_classes: read the class names (a TFDS dataset then needs a
        `ClassLabel` feature `data.label_key`); False for training, which
        needs no labels.

    Raises:
      UserError: the dataset cannot be found, prepared or listed, or lacks
        the image (or label) feature.
    """
    if is_directory(data.dataset):
        directory = folders.open_directory(data)
        channels = folders.channels(data)
        return Description(
            directory.path,
            (None, None, channels),
            channels,
            directory.class_names,
            *folders.eval_splits(data, directory),
        )
    info = dataset_info(data.dataset, data.data_dir, data.manual_dir)
    shape = image_shape(info, data.image_key)
    return Description(
        data.dataset,
        shape,
        data.channels or shape[2],
        tuple(class_names(info, data.label_key)) if with_classes else (),
        data.eval_train_split,
        data.eval_split,
    )


def dataset_info(name, data_dir=None, manual_dir=None):
    """Metadata of a TFDS dataset, preparing the dataset first if needed.

    Args:
      name: TFDS name, e.g. "cifar10", "digits", "mnist:3.*.*".
      data_dir: TFDS data directory; None = TFDS's default.
      manual_dir: directory holding already-downloaded files, used instead of
        the network when the dataset has to be prepared.

    Returns:
      The dataset's `tfds.core.DatasetInfo`.

    Raises:
      UserError: unknown name, bad directory, or not prepared and not buildable.
    """
    return prepared_builder(name, data_dir, manual_dir).info


def image_shape(info, image_key="image"):
    """`(H, W, C)` of the stored images (H, W are None when sizes vary)."""
    shape = tuple(feature(info, image_key, "image_key").shape)
    if len(shape) != 3:
        raise UserError(
            f"feature {image_key!r} of dataset {info.name!r} has shape {shape}; "
            "image_key must name an image feature of shape [H, W, C]"
        )
    return shape


def num_classes(info, label_key="label"):
    """Number of classes of the `tfds.features.ClassLabel` feature `label_key`."""
    return _class_label(info, label_key).num_classes


def class_names(info, label_key="label"):
    """Names of the classes of `label_key`, index i naming label i."""
    return list(_class_label(info, label_key).names)


def prepared_builder(name, data_dir, manual_dir):
    """The TFDS builder of `name`, its data prepared in `data_dir`.

    Args:
      name: TFDS name, e.g. "cifar10", "digits", "mnist:3.*.*".
      data_dir: TFDS data directory (created if missing); None = TFDS's default.
      manual_dir: directory of already-downloaded files, or None.

    Returns:
      The `tfds.core.DatasetBuilder`, ready for `as_dataset`.

    Raises:
      UserError: unknown name, bad directory, or not prepared and not buildable.
    """
    data_dir = _checked_dir("data_dir", data_dir, create=True)
    manual_dir = _checked_dir("manual_dir", manual_dir, create=False)
    builder = _builder(name, data_dir)
    if not builder.is_prepared():
        try:
            _prepare(builder, manual_dir)
        except UserError:
            # Two runs started together both build a dataset that is not
            # prepared yet; the second to finish cannot rename its copy into
            # place (FileExistsError) but finds the first one's there.
            builder = _builder(name, data_dir)
            if not builder.is_prepared():
                raise
    return builder


def _builder(name, data_dir):
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset is {name!r}; set it to a TFDS name such as 'digits'")
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(_unknown_dataset_message(name)) from None
    except (ValueError, AssertionError) as err:
        raise UserError(_bad_variant_message(name, err)) from err


def _unknown_dataset_message(name):
    close = difflib.get_close_matches(
        _base_name(name), tfds.list_builders(with_community_datasets=False), n=3
    )
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"unknown dataset {name!r}{hint}; see tfds.list_builders() for every "
        "TFDS name ('digits' is the embedded one)"
    )


def _bad_variant_message(name, err):
    """For a known dataset with a bad config, version or syntax."""
    # TFDS prefixes the builder kwargs it tried and appends a multi-line list.
    reason = re.sub(r'^Failed to construct dataset .*?": ', "", str(err).strip())
    message = f"cannot load dataset {name!r} ({_first_line(reason).split(' Here')[0]})"
    try:
        cls = tfds.builder_cls(_base_name(name))
    except ValueError:
        return f"{message}; the format is name[/config][:version]"
    configs = [config.name for config in cls.BUILDER_CONFIGS or []] or ["none"]
    versions = [str(v) for v in [cls.VERSION, *cls.SUPPORTED_VERSIONS] if v]
    return (
        f"{message}; the format is name[/config][:version], configs: "
        f"{', '.join(configs[:10] + ['...'] * (len(configs) > 10))}; "
        f"versions: {', '.join(versions) or 'per config'}"
    )


def _base_name(name):
    return name.split("/")[0].split(":")[0]


def _prepare(builder, manual_dir):
    """Downloads (or reads from manual_dir) and prepares `builder`'s dataset."""
    missing = _unreachable_downloads(builder, manual_dir)
    if missing:
        raise UserError(
            _not_prepared_message(builder, f"cannot download {', '.join(missing)}")
        )
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=download_config)
    except Exception as err:  # Whatever the cause, the dataset cannot be built.
        reason = f"{type(err).__name__}: {_first_line(err)}"
        raise UserError(_not_prepared_message(builder, reason)) from err


def _not_prepared_message(builder, reason):
    return (
        f"dataset {builder.name!r} is not prepared in {builder.data_dir} and "
        f"cannot be built ({reason}); place its download files in manual_dir "
        "(config.data.manual_dir) or a prepared copy in data_dir, see BUILD.md"
    )


def _unreachable_downloads(builder, manual_dir):
    """Sorted names of files to download that are not in manual_dir, if offline.

    TFDS retries an unreachable host for minutes before failing, so the hosts
    are probed first. [] when every file is in manual_dir or every host answers.
    """
    current = vars(tfds.core.DatasetBuilder)["download_and_prepare"]
    if current is not _TFDS_DOWNLOAD_AND_PREPARE:
        return []
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        return []  # TFDS itself fails fast when the manual files are missing.
    needed = {
        url: info.filename or url.rsplit("/", 1)[-1]
        for url, info in (builder.url_infos or {}).items()
    }
    if manual_dir:
        needed = {
            url: name
            for url, name in needed.items()
            if not tf.io.gfile.exists(os.path.join(manual_dir, name))
        }
    urls = [urllib.parse.urlparse(url) for url in needed]
    hosts = {(u.hostname, u.port or _DEFAULT_PORTS.get(u.scheme, 443)) for u in urls}
    if all(_reachable(*host) for host in hosts):
        return []
    return sorted(set(needed.values()))


def _reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _checked_dir(field, path, create):
    """`path` with ~ expanded, after checking it is a usable directory."""
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise ValueError(
            f"{field} is {path!r}; set it to a directory or leave it unset (None)"
        )
    path = os.path.expanduser(path)
    try:
        if not tf.io.gfile.exists(path):
            if not create:
                raise UserError(
                    f"{field} {path!r} does not exist; it must be a directory"
                )
            tf.io.gfile.makedirs(path)
        if not tf.io.gfile.isdir(path):
            raise UserError(f"{field} {path!r} is not a directory; it must be one")
        tf.io.gfile.listdir(path)
    except (tf.errors.OpError, OSError) as err:
        raise UserError(
            f"{field} {path!r} cannot be created or listed ({type(err).__name__}); "
            "it must be a directory you can read and write (created if missing)"
        ) from err
    return path


def _first_line(err):
    """First line of an error (or its text), at most 160 characters."""
    lines = str(err).strip().splitlines()
    line = lines[0] if lines else type(err).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def split_info(info, split):
    """The TFDS split info of `split`.

    Args:
      info: the dataset's `tfds.core.DatasetInfo`.
      split: a TFDS split expression, e.g. "test" or "train[:10%]".

    Returns:
      Its `tfds.core.SplitInfo`, or None when the splits are not known (as
      under `tfds.testing.mock_data`).

    Raises:
      UserError: `split` names no split of the dataset.
    """
    if not info.splits:  # e.g. under tfds.testing.mock_data
        return None
    try:
        return info.splits[split]
    except (KeyError, ValueError, TypeError, AssertionError):
        raise UserError(
            f"unknown split {split!r} of dataset {info.name!r}; available splits: "
            f"{', '.join(info.splits)} (combine with '+', slice like 'train[:10%]')"
        ) from None


def feature(info, key, field):
    """The feature `key` of a dataset.

    Args:
      info: the dataset's `tfds.core.DatasetInfo`.
      key: feature name, e.g. "image".
      field: the config field `key` came from, named in the error.

    Returns:
      The `tfds.features.FeatureConnector` of `key`.

    Raises:
      UserError: the dataset has no feature `key`.
    """
    features = info.features
    keys = list(features.keys()) if hasattr(features, "keys") else []
    if key not in keys:
        raise UserError(
            f"dataset {info.name!r} has no feature {key!r} ({field}); "
            f"available features: {', '.join(keys)}"
        )
    return features[key]


def _class_label(info, label_key):
    label = feature(info, label_key, "label_key")
    if not isinstance(label, tfds.features.ClassLabel):
        raise UserError(
            f"feature {label_key!r} of dataset {info.name!r} is not a class label; "
            "label_key must name a tfds.features.ClassLabel feature"
        )
    return label
