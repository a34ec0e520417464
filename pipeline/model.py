"""Build the causal dilated QConv1D stack described by a `ModelConfig`.

Input (T, 3) = [core wave, e0, e1], output (T, 1). The input is quantised to the configured
audio word first, so the hardware sees exactly what the model was trained on. Every layer is
a causal QConv1D; a layer with `factorized_rank` becomes two 1x1 QConv1Ds F_in->P->F with no
activation between them. Layer names are stable (`qconv_<i>`, `qconv_<i>a`/`qconv_<i>b`,
`qact_<i>`) because export and HLS conversion look layers up by name.
"""

from dataclasses import dataclass

import tensorflow as tf
from qkeras import QActivation, QConv1D

from pipeline.config import INPUT_CHANNELS, Linear, ModelConfig, QuantizedPo2
from pipeline.quantizers import to_qkeras


def build_model(config: ModelConfig, l2: float = 0.0) -> tf.keras.Model:
    """A fresh, untrained model; seed TensorFlow first for reproducible initial weights."""
    regularizer = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    inputs = tf.keras.Input((None, INPUT_CHANNELS), name="input")
    x = QActivation(to_qkeras(config.input_quantizer), name="input_q")(inputs)
    for i, layer in enumerate(config.layers):
        conv = dict(
            padding="causal",
            kernel_quantizer=to_qkeras(config.layer_kernel_quantizer(i)),
            bias_quantizer=to_qkeras(config.layer_bias_quantizer(i)),
            kernel_regularizer=regularizer,
            bias_regularizer=regularizer,
        )
        if layer.factorized_rank is not None:
            x = QConv1D(layer.factorized_rank, 1, name=f"qconv_{i}a", **conv)(x)
            x = QConv1D(layer.filters, 1, name=f"qconv_{i}b", **conv)(x)
        else:
            x = QConv1D(layer.filters, layer.kernel_size, dilation_rate=layer.dilation,
                        name=f"qconv_{i}", **conv)(x)
        activation = config.layer_activation(i)
        if not isinstance(activation, Linear):
            x = QActivation(to_qkeras(activation), name=f"qact_{i}")(x)
    return tf.keras.Model(inputs, x, name=config.name)


@dataclass(frozen=True)
class ModelCost:
    """Per-sample arithmetic of a model: what decides its FPGA footprint."""

    parameters: int
    multipliers: int  # fixed-point products per output sample
    shift_adds: int  # power-of-two products (shifts) per output sample


def model_cost(config: ModelConfig) -> ModelCost:
    parameters = multipliers = shift_adds = 0
    channels = INPUT_CHANNELS
    for i, layer in enumerate(config.layers):
        if layer.factorized_rank is not None:
            shapes = [(1, channels, layer.factorized_rank), (1, layer.factorized_rank,
                                                             layer.filters)]
        else:
            shapes = [(layer.kernel_size, channels, layer.filters)]
        po2 = isinstance(config.layer_kernel_quantizer(i), QuantizedPo2)
        for kernel, fan_in, fan_out in shapes:
            products = kernel * fan_in * fan_out
            parameters += products + fan_out
            if po2:
                shift_adds += products
            else:
                multipliers += products
        channels = layer.filters
    return ModelCost(parameters, multipliers, shift_adds)
