"""Reading TensorBoard event files back in tests."""

import glob
import os

import tensorflow as tf


def event_tags(logdir):
    """{tag: sorted steps} of every summary in the event files under `logdir`."""
    tags = {}
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, set()).add(event.step)
    return {tag: sorted(steps) for tag, steps in tags.items()}
