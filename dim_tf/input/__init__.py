"""Input: TFDS datasets by name (and the embedded `digits`), the tf.data pipelines, read errors."""
