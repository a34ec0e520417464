"""Export a trained QKeras model as the integer words the hardware stores.

The kernels and biases are quantised by the model's own QKeras quantisers (so there is no
second implementation of QKeras's float32 rounding to drift from it) and then checked to sit
exactly on their fixed-point or power-of-two grid. Anything the streaming datapath cannot
represent stops the export with a one-line error naming the layer.

The weight file (`weights.json`, `FORMAT_VERSION` 1) is described in docs/export-format.md;
`weights.h` carries the same integers for C/C++ and RTL users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import PipelineError
from pipeline.fixedpoint import FixedFormat
from pipeline.outputs import write_text_atomic

if TYPE_CHECKING:
    import tensorflow as tf
    from qkeras import QConv1D, quantized_po2

FORMAT_VERSION = 1
# The output word of a model whose last layer is linear: 16 bits, step 2^-12, range +-8.
# The trained fixed16 reaches 2.4 in steady state and 4.1 in the first receptive field of a
# segment (zero history), so 3 integer bits keep every test-split output unsaturated.
DEFAULT_OUTPUT_FORMAT = FixedFormat(16, 3, signed=True)


class ExportError(PipelineError):
    """The model cannot be represented by the streaming fixed-point datapath."""


@dataclass(frozen=True)
class Po2Format:
    """`quantized_po2` weights: value = (-1)^sign * 2^shift with shift in [min_shift,
    max_shift], or exactly 0 (QKeras flushes 2^shift below 2^-126 to zero)."""

    bits: int
    min_shift: int
    max_shift: int

    def to_dict(self) -> dict:
        return {"bits": self.bits, "min_shift": self.min_shift, "max_shift": self.max_shift}


@dataclass
class ConvLayer:
    """One causal dilated convolution, its activation applied to its output.

    `kernel` holds every weight as an integer word with `kernel_frac` fractional bits
    (K, C_in, C_out), po2 weights included (a word ±2^(shift + kernel_frac)), so the
    reference multiplies words; the hardware turns po2 products into shifts."""

    name: str
    kernel_size: int
    dilation: int
    kernel: np.ndarray
    kernel_frac: int
    kernel_format: FixedFormat | Po2Format
    bias: np.ndarray
    bias_format: FixedFormat
    activation: FixedFormat | None  # None: linear, the accumulator is the output

    @property
    def in_channels(self) -> int:
        return self.kernel.shape[1]

    @property
    def out_channels(self) -> int:
        return self.kernel.shape[2]

    @property
    def history(self) -> int:
        """Samples the layer's ring buffer holds: (K-1)*dilation + 1."""
        return (self.kernel_size - 1) * self.dilation + 1


@dataclass
class ExportedModel:
    """`output_format` is the word the last layer's exact accumulator is rounded (half to
    even) and saturated to when that layer is linear; otherwise its activation's format."""

    name: str
    input_format: FixedFormat
    layers: list[ConvLayer]
    output_format: FixedFormat


# ---------------------------------------------------------------- from QKeras
# TensorFlow and QKeras are imported where a Keras model is read, so that the weight file,
# the reference and the HLS stage load without them (about 5 s per process).


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


def _po2_format(quantizer: quantized_po2) -> Po2Format:
    """Exponent range of QKeras's `quantized_po2` (see docs/qkeras-quantisers.md)."""
    max_value = quantizer.max_value
    sign_bit = 0 if max_value is not None and max_value <= 1 else 1
    span = 2 ** (int(quantizer.bits) - 1 - sign_bit)
    max_shift = span - 1
    if max_value is not None:
        max_shift = min(max_shift, int(np.round(np.log2(max_value))))
    return Po2Format(int(quantizer.bits), -span, max_shift)


def _on_grid(values: np.ndarray, fmt: FixedFormat, where: str) -> np.ndarray:
    words = values.astype(np.float64) * 2.0**fmt.frac
    bad = (words != np.round(words)) | (words < fmt.min_word) | (words > fmt.max_word)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ExportError(f"{where}: value {values[index]!r} at {list(index)} is not a word "
                          f"of fixed<{fmt.bits},{fmt.integer}> (step 2^-{fmt.frac})")
    return words.astype(np.int64)


def _po2_words(values: np.ndarray, fmt: Po2Format, where: str) -> tuple[np.ndarray, int]:
    """po2 values as words with -min_shift fractional bits."""
    frac = -fmt.min_shift
    magnitude = np.abs(values.astype(np.float64))
    with np.errstate(divide="ignore"):
        shift = np.log2(magnitude)
    zero = magnitude == 0
    bad = ~zero & ((shift != np.round(shift)) | (shift < fmt.min_shift) |
                   (shift > fmt.max_shift))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ExportError(f"{where}: value {values[index]!r} at {list(index)} is not a power "
                          f"of two in 2^{fmt.min_shift}..2^{fmt.max_shift}")
    return np.round(values.astype(np.float64) * 2.0**frac).astype(np.int64), frac


def _conv_layer(layer: QConv1D, activation: FixedFormat | None) -> ConvLayer:
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
    from qkeras import quantized_po2

    kernel_values = kernel_q(layer.kernel).numpy()
    if isinstance(kernel_q, quantized_po2):
        kernel_format = _po2_format(kernel_q)
        kernel, kernel_frac = _po2_words(kernel_values, kernel_format, f"{name} kernel")
    else:
        kernel_format = _fixed_format(kernel_q, f"{name} kernel")
        kernel, kernel_frac = _on_grid(kernel_values, kernel_format, f"{name} kernel"), \
            kernel_format.frac
    bias_format = _fixed_format(bias_q, f"{name} bias")
    bias = _on_grid(bias_q(layer.bias).numpy(), bias_format, f"{name} bias")
    return ConvLayer(name, int(config["kernel_size"][0]), int(config["dilation_rate"][0]),
                     kernel, kernel_frac, kernel_format, bias, bias_format, activation)


def from_qkeras(model: tf.keras.Model,
                output_format: FixedFormat = DEFAULT_OUTPUT_FORMAT) -> ExportedModel:
    """Read a chain `input -> QActivation(quantized_bits) -> (QConv1D [-> QActivation])*`."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D

    layers = [layer for layer in model.layers if not isinstance(layer, tf.keras.layers.InputLayer)]
    if not layers or not isinstance(layers[0], QActivation):
        raise ExportError(f"{model.name}: the first layer must be a QActivation that "
                          "quantises the input to a quantized_bits word")
    input_format = _fixed_format(layers[0].quantizer, f"{layers[0].name}")
    if input_format.signed is False:
        raise ExportError(f"{layers[0].name}: the input quantiser must be quantized_bits")
    convs: list[ConvLayer] = []
    pending: QConv1D | None = None
    for layer in layers[1:]:
        if len(layer.inbound_nodes) != 1 or isinstance(layer.input, list):
            raise ExportError(f"{layer.name}: only a single chain of layers is supported")
        if isinstance(layer, QConv1D):
            if pending is not None:
                convs.append(_conv_layer(pending, None))
            pending = layer
        elif isinstance(layer, QActivation) and pending is not None:
            convs.append(_conv_layer(pending, _fixed_format(layer.quantizer, layer.name)))
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
    if convs[-1].activation is not None:
        output_format = convs[-1].activation
    return ExportedModel(model.name, input_format, convs, output_format)


# ---------------------------------------------------------------- weight file


def _format_dict(fmt: FixedFormat | Po2Format | None) -> dict | None:
    return None if fmt is None else fmt.to_dict()


def _activation_name(layer: ConvLayer) -> str:
    if layer.activation is None:
        return "linear"
    return "quantized_bits" if layer.activation.signed else "relu"


def po2_fields(layer: ConvLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sign, shift, zero) of a po2 kernel: weight = (-1)^sign * 2^shift, or 0 where zero."""
    magnitude = np.abs(layer.kernel)
    zero = magnitude == 0
    shift = np.log2(np.where(zero, 1, magnitude)).astype(np.int64) - layer.kernel_frac
    return ((layer.kernel < 0).astype(np.int64), np.where(zero, 0, shift),
            zero.astype(np.int64))


def to_dict(model: ExportedModel) -> dict:
    layers = []
    for layer in model.layers:
        entry = {
            "name": layer.name, "kind": "conv1d_causal", "kernel_size": layer.kernel_size,
            "dilation": layer.dilation, "in_channels": layer.in_channels,
            "out_channels": layer.out_channels,
            "activation": _activation_name(layer),
            "activation_format": _format_dict(layer.activation),
            "bias": {"format": layer.bias_format.to_dict(), "words": layer.bias.tolist()},
        }
        if isinstance(layer.kernel_format, Po2Format):
            sign, shift, zero = po2_fields(layer)
            entry["kernel"] = {"encoding": "po2", "format": layer.kernel_format.to_dict(),
                               "sign": sign.tolist(), "shift": shift.tolist(),
                               "zero": zero.tolist()}
        else:
            entry["kernel"] = {"encoding": "fixed", "format": layer.kernel_format.to_dict(),
                               "words": layer.kernel.tolist()}
        layers.append(entry)
    return {"format_version": FORMAT_VERSION, "model": model.name,
            "input_format": model.input_format.to_dict(),
            "output_format": model.output_format.to_dict(), "layers": layers}


def _read_fixed(entry: dict) -> FixedFormat:
    return FixedFormat(int(entry["bits"]), int(entry["integer"]), bool(entry["signed"]))


def from_dict(payload: dict, source: str = "weights") -> ExportedModel:
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ExportError(f"{source}: format_version {version!r} is not supported (expected "
                          f"{FORMAT_VERSION})")
    layers = []
    for entry in payload["layers"]:
        kernel_entry = entry["kernel"]
        if kernel_entry["encoding"] == "po2":
            fmt = Po2Format(**kernel_entry["format"])
            frac = -fmt.min_shift
            sign = np.where(np.array(kernel_entry["sign"]) == 1, -1, 1)
            words = sign * (np.int64(1) << (np.array(kernel_entry["shift"], dtype=np.int64) +
                                            frac))
            kernel = np.where(np.array(kernel_entry["zero"]) == 1, 0, words).astype(np.int64)
        else:
            fmt = _read_fixed(kernel_entry["format"])
            frac, kernel = fmt.frac, np.array(kernel_entry["words"], dtype=np.int64)
        activation = entry["activation_format"]
        layers.append(ConvLayer(
            entry["name"], int(entry["kernel_size"]), int(entry["dilation"]),
            kernel.reshape(entry["kernel_size"], entry["in_channels"], entry["out_channels"]),
            frac, fmt, np.array(entry["bias"]["words"], dtype=np.int64),
            _read_fixed(entry["bias"]["format"]),
            None if activation is None else _read_fixed(activation)))
    return ExportedModel(payload["model"], _read_fixed(payload["input_format"]), layers,
                         _read_fixed(payload["output_format"]))


def write_weights(model: ExportedModel, path: Path) -> None:
    """weights.json, written to a temporary name and renamed."""
    write_text_atomic(path, json.dumps(to_dict(model), indent=1) + "\n")


def read_weights(path: Path) -> ExportedModel:
    return from_dict(json.loads(Path(path).read_text()), str(path))


# ---------------------------------------------------------------- C header


def _c_type(low: int, high: int) -> str:
    for bits in (8, 16, 32, 64):
        if -(1 << (bits - 1)) <= low and high < (1 << (bits - 1)):
            return f"int{bits}_t"
    raise ExportError(f"a word range {low}..{high} needs more than 64 bits")


def _c_array(name: str, values: np.ndarray, c_type: str | None = None) -> str:
    c_type = c_type or _c_type(int(values.min()), int(values.max()))
    dims = "".join(f"[{n}]" for n in values.shape)
    body = np.array2string(values, separator=", ", threshold=values.size + 1,
                           max_line_width=96).replace("[", "{").replace("]", "}")
    return f"static const {c_type} {name}{dims} = {body};\n"


def header_text(model: ExportedModel) -> str:
    """weights.h: the same integers as weights.json, with each format as #defines."""
    prefix = "".join(c if c.isalnum() else "_" for c in model.name)
    guard = f"{prefix.upper()}_WEIGHTS_H"
    fmt = model.input_format
    lines = [f"/* {model.name}: integer weights exported by pipeline/export.py (format_version "
             f"{FORMAT_VERSION}). A value is word * 2^-FRAC. See docs/export-format.md. */",
             f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>", "",
             f"#define {prefix.upper()}_INPUT_BITS {fmt.bits}",
             f"#define {prefix.upper()}_INPUT_FRAC {fmt.frac}",
             f"#define {prefix.upper()}_OUTPUT_BITS {model.output_format.bits}",
             f"#define {prefix.upper()}_OUTPUT_FRAC {model.output_format.frac}", ""]
    for layer in model.layers:
        name = f"{prefix}_{layer.name}"
        upper = name.upper()
        lines += [f"/* {layer.name}: causal conv, K={layer.kernel_size}, dilation "
                  f"{layer.dilation}, {layer.in_channels} -> {layer.out_channels}, "
                  f"activation {_activation_name(layer)} */",
                  f"#define {upper}_K {layer.kernel_size}",
                  f"#define {upper}_DILATION {layer.dilation}",
                  f"#define {upper}_CIN {layer.in_channels}",
                  f"#define {upper}_COUT {layer.out_channels}",
                  f"#define {upper}_BIAS_FRAC {layer.bias_format.frac}"]
        if layer.activation is not None:
            lines += [f"#define {upper}_ACT_BITS {layer.activation.bits}",
                      f"#define {upper}_ACT_FRAC {layer.activation.frac}",
                      f"#define {upper}_ACT_SIGNED {int(layer.activation.signed)}"]
        if isinstance(layer.kernel_format, Po2Format):
            sign, shift, zero = po2_fields(layer)
            lines += ["/* po2 kernel: weight = (sign ? -1 : 1) * 2^shift, or 0 where zero */",
                      _c_array(f"{name}_shift", shift, "int8_t"),
                      _c_array(f"{name}_sign", sign, "uint8_t"),
                      _c_array(f"{name}_zero", zero, "uint8_t")]
        else:
            lines += [f"#define {upper}_KERNEL_FRAC {layer.kernel_frac}",
                      _c_array(f"{name}_kernel", layer.kernel,
                               _c_type(layer.kernel_format.min_word,
                                       layer.kernel_format.max_word))]
        lines.append(_c_array(f"{name}_bias", layer.bias,
                              _c_type(layer.bias_format.min_word, layer.bias_format.max_word)))
    lines += [f"#endif /* {guard} */", ""]
    return "\n".join(lines)
