"""The coordinate-prediction head (the paper's Table 4 "coordinate prediction").

A classifier over the M*M positions: from one local vector and the image's Y,
predict where on the grid the local vector sits (`objective.coordinates`).
"""

import keras
from keras import ops

# Hidden width: small next to the critics.
HIDDEN_UNITS = 256


class CoordinateHead(keras.Model):
    """`relu([local; y] W1 + b1) W2 + b2` for every location, without tiling Y.

    The first layer is split as `local @ W_l + y @ W_y`, so Y is projected once
    per image.

    Args:
        positions: M*M, the number of classes.
        units: hidden width.
        dtype: Keras dtype policy name, or None; logits are float32.
    """

    def __init__(self, positions, units=HIDDEN_UNITS, dtype=None, **kwargs):
        super().__init__(dtype=dtype, name=kwargs.pop("name", "coordinate_head"))
        self.positions = int(positions)
        self.local_in = keras.layers.Dense(units, dtype=dtype, name="local_in")
        self.y_in = keras.layers.Dense(units, use_bias=False, dtype=dtype, name="y_in")
        # Float32 logits: the cross-entropy is taken in float32.
        self.logits = keras.layers.Dense(self.positions, dtype="float32", name="logits")

    def build_from_shapes(self, local_shape, y_shape):
        """Creates the variables from `[M, M, C]` and `[D]`."""
        self.local_in.build((None, local_shape[-1]))
        self.y_in.build((None, y_shape[-1]))
        self.logits.build((None, self.local_in.units))
        self.built = True

    def call(self, local, y):
        """`local [n, M, M, C]`, `y [n, D]` -> logits `[n, M*M, M*M]` float32."""
        local = ops.reshape(local, (-1, self.positions, local.shape[-1]))
        hidden = self.local_in(local) + self.y_in(y)[:, None, :]
        return self.logits(ops.relu(hidden))
