"""The Keras layers of the models, and the custom objects that load them back.

qkeras-v3's `QConv1D` hands `padding="causal"` straight to `keras.ops.conv`, which TensorFlow
and JAX refuse (and torch silently shortens the output): Keras 3's own `Conv1D` pads causal
inputs itself, but QConv1D's `call` replaces it. `CausalQConv1D` restores Keras's behaviour,
left-padding by (K-1) x dilation and convolving 'valid', so the saved config still says
'causal' and the QKeras reader (`pipeline.fixed.reader`) sees a QConv1D.
"""

from __future__ import annotations

import keras
import qkeras
from qkeras.ops_portable import bias_add_portable
from qkeras.utils import _add_supported_quantized_objects


@keras.saving.register_keras_serializable(package="waveshaper")
class CausalQConv1D(qkeras.QConv1D):
    """QConv1D whose `padding="causal"` works on Keras 3 (other paddings unchanged)."""

    def call(self, inputs):
        if self.padding != "causal":
            return super().call(inputs)
        kernel = self.kernel_quantizer_internal(self.kernel) if self.kernel_quantizer \
            else self.kernel
        outputs = keras.ops.conv(keras.ops.pad(inputs, self._compute_causal_padding()), kernel,
                                 strides=self.strides[0], padding="valid",
                                 data_format=self.data_format,
                                 dilation_rate=self.dilation_rate[0])
        if self.use_bias:
            bias = self.bias_quantizer_internal(self.bias) if self.bias_quantizer else self.bias
            outputs = bias_add_portable(outputs, bias, data_format=self.data_format)
        return self.activation(outputs) if self.activation is not None else outputs


def custom_objects() -> dict:
    """QKeras's layers and quantisers, with `QConv1D` read as `CausalQConv1D`: models saved
    by QKeras 0.9.0 (Keras 2) name their causal convolutions QConv1D."""
    objects: dict = {}
    _add_supported_quantized_objects(objects)
    objects.update(QConv1D=CausalQConv1D, CausalQConv1D=CausalQConv1D)
    return objects
