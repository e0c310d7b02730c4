"""Input: TFDS datasets by name (and the embedded `digits`), directories of image files or TFRecords, the tf.data pipelines, read errors."""
