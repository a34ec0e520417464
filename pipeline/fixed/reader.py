"""Read a trained QKeras model into the IR (`pipeline.fixed.ir`).

The kernels and biases are quantised by the model's own QKeras quantisers (so there is no
second implementation of QKeras's float32 rounding to drift from it) and then checked to sit
exactly on their fixed-point or power-of-two grid. Anything the streaming datapath cannot
represent stops with a one-line error naming the layer, before anything is written.

A model without an input quantiser takes its input word from the caller (the HLS config's
`input_precision`, default `DEFAULT_INPUT_FORMAT`). TensorFlow and QKeras are imported where
a model is read, so that the rest of the package loads without them (about 5 s per process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipeline.fixed.ir import ConvLayer, ExportedModel, ExportError, po2_kernel
from pipeline.fixed.output import size_output
from pipeline.fixed.words import FixedFormat, Po2Format, po2_format

if TYPE_CHECKING:
    import keras
    from qkeras import QConv1D

DEFAULT_INPUT_FORMAT = FixedFormat(16, 0, signed=True)
"""The input word of a model without an input quantiser (HlsConfig.input_precision's
default, ap_fixed<16,1>): sign and 15 fractional bits, [-1, 1)."""


def _fixed_format(quantizer, where: str) -> FixedFormat:
    """The format of a `quantized_bits` or `quantized_relu` quantiser, refusing variants
    whose values are not plain fixed-point words."""
    from qkeras import quantized_bits, quantized_relu

    if isinstance(quantizer, quantized_relu):
        if quantizer.use_sigmoid or quantizer.negative_slope or quantizer.bits >= 32:
            raise ExportError(f"{where}: quantized_relu with sigmoid, a negative slope or 32 "
                              "bits is not supported")
        return FixedFormat(int(quantizer.bits), int(quantizer.integer), signed=False)
    if isinstance(quantizer, quantized_bits):
        if quantizer.alpha not in (None, 1, 1.0) or quantizer.symmetric or not \
                quantizer.keep_negative:
            raise ExportError(f"{where}: quantized_bits must have alpha=1, symmetric=0 and "
                              f"keep_negative=True (got alpha={quantizer.alpha!r})")
        return FixedFormat(int(quantizer.bits), int(quantizer.integer), signed=True)
    raise ExportError(f"{where}: quantiser {type(quantizer).__name__} is not supported "
                      "(expected quantized_bits or quantized_relu)")


def _is_relu(quantizer) -> bool:
    from qkeras import quantized_relu

    return isinstance(quantizer, quantized_relu)


def _on_grid(values: np.ndarray, fmt: FixedFormat, where: str) -> np.ndarray:
    words = values.astype(np.float64) * 2.0**fmt.frac
    bad = (words != np.round(words)) | (words < fmt.min_word) | (words > fmt.max_word)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ExportError(f"{where}: value {float(values[index])!r} at {list(index)} is not a word "
                          f"of fixed<{fmt.bits},{fmt.integer}> (step 2^-{fmt.frac})")
    return words.astype(np.int64)


def _po2_words(values: np.ndarray, fmt: Po2Format, where: str) -> tuple[np.ndarray, int]:
    """QKeras's po2 values (float32) as words: each ±2^shift with shift in the format, or 0."""
    magnitude = np.abs(values.astype(np.float64))
    zero = magnitude == 0
    with np.errstate(divide="ignore"):
        shift = np.log2(np.where(zero, 1.0, magnitude))
    bad = ~zero & ((shift != np.round(shift)) | (shift < fmt.min_shift) |
                   (shift > fmt.max_shift))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ExportError(f"{where}: value {float(values[index])!r} at {list(index)} is not "
                          f"a power of two in 2^{fmt.min_shift}..2^{fmt.max_shift}")
    return po2_kernel((values < 0).astype(np.int64), shift.astype(np.int64),
                       zero.astype(np.int64))


def _conv_layer(layer: QConv1D, activation: FixedFormat | None, relu: bool = False
                ) -> ConvLayer:
    name = layer.name
    config = layer.get_config()
    if config["padding"] != "causal":
        raise ExportError(f"{name}: padding '{config['padding']}' is not supported (the "
                          "streaming datapath is causal: use padding='causal')")
    if tuple(config["strides"]) != (1,):
        raise ExportError(f"{name}: strides {tuple(config['strides'])} are not supported "
                          "(one sample in, one sample out needs stride 1)")
    if config["activation"] not in ("linear", None) or not layer.use_bias:
        raise ExportError(f"{name}: the convolution must be linear with a bias; put the "
                          "activation in a QActivation layer")
    kernel_q, bias_q = layer.kernel_quantizer_internal, layer.bias_quantizer_internal
    if kernel_q is None or bias_q is None:
        raise ExportError(f"{name}: kernel and bias need quantisers (float weights have no "
                          "fixed-point word)")
    import keras
    from qkeras import quantized_po2

    kernel_values = keras.ops.convert_to_numpy(kernel_q(layer.kernel))
    if isinstance(kernel_q, quantized_po2):
        kernel_format = po2_format(int(kernel_q.bits), kernel_q.max_value)
        kernel, kernel_frac = _po2_words(kernel_values, kernel_format, f"{name} kernel")
    else:
        kernel_format = _fixed_format(kernel_q, f"{name} kernel")
        kernel, kernel_frac = _on_grid(kernel_values, kernel_format, f"{name} kernel"), \
            kernel_format.frac
    bias_format = _fixed_format(bias_q, f"{name} bias")
    bias = _on_grid(keras.ops.convert_to_numpy(bias_q(layer.bias)), bias_format, f"{name} bias")
    return ConvLayer(name, int(config["kernel_size"][0]), int(config["dilation_rate"][0]),
                     kernel, kernel_frac, kernel_format, bias, bias_format, activation, relu)


def from_qkeras(model: keras.Model, input_format: FixedFormat | None = None,
                calibration: Sequence[np.ndarray] | None = None,
                output_format: FixedFormat | None = None) -> ExportedModel:
    """Read a chain `input [-> QActivation(quantized_bits)] -> (QConv1D [-> QActivation])*`.

    `input_format`: the input word when the model has no input QActivation (default
    `DEFAULT_INPUT_FORMAT`); a model's own input quantiser always wins. `calibration`:
    signals (T, C_in) whose largest output sizes a linear output word (`size_output`);
    `output_format` sets that word instead."""
    import keras
    from qkeras import QActivation, QConv1D

    try:
        inputs, outputs = model.inputs or [], model.outputs or []
    except AttributeError:  # Keras 3: a Sequential model never built has no inputs at all
        inputs, outputs = [], []
    if not inputs:
        raise ExportError(f"{model.name}: the model has no input shape yet (build it on an "
                          "Input of shape (None, C) or (T, C))")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"{model.name}: {len(inputs)} inputs and {len(outputs)} outputs; "
                          "only a single chain of layers (one input tensor, one output "
                          "tensor) is supported")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = inputs[0]
    for layer in layers:
        # Keras 3 keeps a layer's calls in _inbound_nodes (no public count of them).
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            raise ExportError(f"{layer.name}: only a single chain of layers is supported")
        previous = layer.output
    if layers and isinstance(layers[0], QActivation):
        input_format = _fixed_format(layers[0].activation, f"{layers[0].name}")
        if input_format.signed is False:
            raise ExportError(f"{layers[0].name}: the input quantiser must be quantized_bits")
        layers = layers[1:]
    elif input_format is None:
        input_format = DEFAULT_INPUT_FORMAT
    convs: list[ConvLayer] = []
    pending: QConv1D | None = None
    for layer in layers:
        if isinstance(layer, QConv1D):
            if pending is not None:
                convs.append(_conv_layer(pending, None))
            pending = layer
        elif isinstance(layer, QActivation) and pending is not None:
            convs.append(_conv_layer(pending, _fixed_format(layer.activation, layer.name),
                                     relu=_is_relu(layer.activation)))
            pending = None
        else:
            raise ExportError(f"{layer.name}: layer {type(layer).__name__} is not supported "
                              "(expected QConv1D, each optionally followed by one QActivation)")
    if pending is not None:
        convs.append(_conv_layer(pending, None))
    if not convs:
        raise ExportError(f"{model.name}: no QConv1D layer to export")
    channels = model.input_shape[-1]
    for conv in convs:
        if conv.in_channels != channels:
            raise ExportError(f"{conv.name}: expects {conv.in_channels} input channels, "
                              f"gets {channels}")
        channels = conv.out_channels
    return size_output(model.name, input_format, convs, calibration, output_format)


