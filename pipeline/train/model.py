"""Build the causal dilated QConv1D stack described by a `ModelConfig`.

Input (T, 3) = [core wave, e0, e1], output (T, 1). The input is quantised to the configured
audio word first, so the hardware sees exactly what the model was trained on. Every
convolution of `ModelConfig.convolutions()` is a causal QConv1D, followed by a QActivation
`qact_<i>` unless it is linear; names are stable because export and HLS conversion look
layers up by name.
"""

import tensorflow as tf
from qkeras import QActivation, QConv1D

from pipeline.config import Linear, ModelConfig
from pipeline.data.shapes import INPUT_CHANNELS
from pipeline.train.quantizers import to_qkeras


def build_model(config: ModelConfig, l2: float = 0.0) -> tf.keras.Model:
    """A fresh, untrained model; seed TensorFlow first for reproducible initial weights."""
    regularizer = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    inputs = tf.keras.Input((None, INPUT_CHANNELS), name="input")
    x = QActivation(to_qkeras(config.input_quantizer), name="input_q")(inputs)
    for conv in config.convolutions():
        x = QConv1D(conv.out_channels, conv.kernel_size, dilation_rate=conv.dilation,
                    padding="causal", kernel_quantizer=to_qkeras(conv.kernel_quantizer),
                    bias_quantizer=to_qkeras(conv.bias_quantizer),
                    kernel_regularizer=regularizer, bias_regularizer=regularizer,
                    name=conv.name)(x)
        if conv.activation is not None and not isinstance(conv.activation, Linear):
            x = QActivation(to_qkeras(conv.activation), name=f"qact_{conv.layer}")(x)
    return tf.keras.Model(inputs, x, name=config.name)
