"""Deep InfoMax (Hjelm et al., 2019) in Keras 3 / TensorFlow."""

from dim_tf.input import digits as _digits  # registers the TFDS builder

del _digits
