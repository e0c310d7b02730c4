"""Deep InfoMax (Hjelm et al., 2019) in Keras 3 / TensorFlow.

Importing dim_tf registers the embedded dataset with TFDS as `digits`
(`dim_tf.input.digits`) without importing TensorFlow Datasets itself, so
`import dim_tf.config` (every check of a config) stays fast: the builder is
registered now if TFDS is already imported, else right after TFDS is.
"""

import sys

_TFDS = "tensorflow_datasets"


def _register_digits():
    from dim_tf.input import digits  # noqa: F401  (registers the TFDS builder)


class _RegisterDigitsAfterTfds:
    """A `sys.meta_path` finder that makes TFDS's loader register `digits` after it.

    It finds nothing itself (the next finders do); not an `importlib.abc`
    subclass, whose import alone costs more than the rest of dim_tf.config.
    """

    def find_spec(self, name, path, target=None):
        if name != _TFDS:
            return None
        sys.meta_path.remove(self)  # Once: TFDS is imported once.
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec else None
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_digits()

        spec.loader.exec_module = exec_then_register
        return spec


if _TFDS in sys.modules:
    _register_digits()
elif not any(isinstance(f, _RegisterDigitsAfterTfds) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterDigitsAfterTfds())
