"""A damaged dataset met while reading it, as one line a user can act on.

TensorFlow's op errors from a damaged file come with lines of graph plumbing
around the one line that says what went wrong.
"""

import contextlib
import re

import tensorflow as tf

from dim_tf.errors import UserError

# What reading or decoding a damaged dataset raises.
INPUT_ERRORS = (
    tf.errors.DataLossError,
    tf.errors.NotFoundError,
    tf.errors.FailedPreconditionError,
    tf.errors.InvalidArgumentError,
    tf.errors.OutOfRangeError,
)

# Starts the message of `image_files.decoded_examples`' check; what follows
# names the file.
BAD_IMAGE_MARK = "dim_tf: cannot decode image"

# Where those errors name the pipeline (a traced or an eager iterator).
_PIPELINE_MARKS = ("IteratorGetNext", "Iterator::")


def is_input_error(err):
    """Whether `err` was raised by an input pipeline reading its files."""
    return isinstance(err, INPUT_ERRORS) and any(
        mark in str(err) for mark in _PIPELINE_MARKS
    )


def unreadable_data(err, what):
    """The one-line `UserError` for input error `err` met while reading `what`."""
    bad_image = re.search(re.escape(BAD_IMAGE_MARK) + r"\] ([^\n]*)", err.message)
    if bad_image:
        # Assert prints each tensor of the message in brackets.
        name = " ".join(re.findall(r"\[(.*?)\]", bad_image.group(1)))
        return UserError(
            f"{name} cannot be decoded as an image (reading the {what}); remove "
            "it or set --config.data.skip_bad_images=True to skip such files"
        )
    return UserError(
        f"the {what} cannot be read ({type(err).__name__}: {_detail(err)}); its "
        "files are damaged, truncated or missing: prepare the dataset again "
        "(remove its directory under data_dir)"
    )


@contextlib.contextmanager
def reading(what):
    """Turns input errors raised inside the block into `unreadable_data`."""
    try:
        yield
    except INPUT_ERRORS as err:
        if not is_input_error(err):
            raise
        raise unreadable_data(err, what) from None


def _detail(err):
    """The line of a TensorFlow op error that says what went wrong."""
    lines = [
        line.strip()
        for line in err.message.splitlines()
        if line.strip()
        and not line.strip().startswith("[[")
        and not line.startswith(("Detected at node", "Graph execution error", "  "))
    ]
    detail = lines[-1] if lines else type(err).__name__
    # Eager errors start with the function's name: "{{function_node ...}} ".
    detail = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", detail)
    # "Error in user-defined function passed to ParallelMapDatasetV2:7
    # transformation with iterator: Iterator::Root::...: REASON" -> REASON.
    detail = re.sub(
        r"^Error in user-defined function .*? with iterator: \S+: ", "", detail
    )
    return detail if len(detail) <= 200 else detail[:197] + "..."
