"""Deep InfoMax (Hjelm et al., 2019) in Keras 3 / TensorFlow.

Importing dim_tf registers the embedded dataset with TFDS as `digits`
without importing TFDS: at once if TFDS is imported, else as soon as it is.
`dim_tf.DeepInfoMax`, `dim_tf.callbacks`, `dim_tf.resolve_backbone` and
`dim_tf.encoder_from_backbone` import TensorFlow on first use only, so
`import dim_tf` stays light.
"""

import importlib
import sys

_TFDS = "tensorflow_datasets"

# Attribute -> (module, name in it; None = the module itself), imported lazily.
_LAZY = {
    "DeepInfoMax": ("dim_tf.training.keras_model", "DeepInfoMax"),
    "callbacks": ("dim_tf.callbacks", None),
    "resolve_backbone": ("dim_tf.models.backbones", "resolve_backbone"),
    "encoder_from_backbone": ("dim_tf.models.backbones", "encoder_from_backbone"),
}


def __getattr__(name):
    """The lazy attributes of `_LAZY` (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'dim_tf' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def _register_digits():
    from dim_tf.input import digits  # noqa: F401  (registers the TFDS builders)


class _RegisterDigitsAfterTfds:
    """A `sys.meta_path` finder that registers `digits` right after TFDS loads.

    It exists for users' `import dim_tf; tfds.load("digits")` only: dim_tf
    imports `dim_tf.input.digits` itself where it opens datasets.
    """

    def find_spec(self, name, path, target=None):
        if name != _TFDS:
            return None
        sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None:
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
