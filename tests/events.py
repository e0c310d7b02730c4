"""Reading TensorBoard event files back in tests."""

import glob
import os

import tensorflow as tf


def _summaries(logdir):
    """(step, summary value) of every summary in the event files under `logdir`."""
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                yield event.step, value


def event_tags(logdir):
    """{tag: sorted steps} of every summary in the event files under `logdir`."""
    tags = {}
    for step, value in _summaries(logdir):
        tags.setdefault(value.tag, set()).add(step)
    return {tag: sorted(steps) for tag, steps in tags.items()}


def event_texts(logdir, tag):
    """{step: text} of the text summary `tag` under `logdir`."""
    return {
        step: tf.make_ndarray(value.tensor).item().decode()
        for step, value in _summaries(logdir)
        if value.tag == tag
    }
