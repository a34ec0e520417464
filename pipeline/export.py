"""Export a trained QKeras model as the integer words the hardware stores.

The kernels and biases are quantised by the model's own QKeras quantisers (so there is no
second implementation of QKeras's float32 rounding to drift from it) and then checked to sit
exactly on their fixed-point or power-of-two grid. Anything the streaming datapath cannot
represent stops the export with a one-line error naming the layer, before anything is
written: among them a layer whose exact sum needs more than `MAX_ACCUMULATOR_BITS` (the
accumulator rule is `pipeline.fixedpoint.accumulator`; docs/export-format.md tabulates the
po2 widths it allows).

A model without an input quantiser takes its input word from the caller (the HLS config's
`input_precision`). A linear last layer's output word is sized to the model's range: 16 bits
with at least `DEFAULT_OUTPUT_FORMAT`'s integer bits, more when a calibration signal (or,
without one, the worst case of the weights) needs them.

The weight file (`weights.json`, `FORMAT_VERSION` 1) is described in docs/export-format.md;
`weights.h` carries the same integers for C/C++ and RTL users.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import PipelineError
from pipeline.fixedpoint import (
    MAX_ACCUMULATOR_BITS,
    Accumulator,
    FixedFormat,
    Po2Format,
    SumSpec,
    accumulator,
    narrower_po2,
    po2_format,
    too_wide_sum,
)
from pipeline.outputs import write_text_atomic

if TYPE_CHECKING:
    import tensorflow as tf
    from qkeras import QConv1D

__all__ = ["ConvLayer", "ExportError", "ExportedModel", "FixedFormat", "OutputRange",
           "Po2Format"]

FORMAT_VERSION = 1
# The output word of a model whose last layer is linear: 16 bits, step 2^-12, range +-8,
# unless the model's range needs more integer bits (`OUTPUT_HEADROOM`). The trained fixed16
# and po2 peak at 3.2 and 2.9 on the test split, so they keep it.
DEFAULT_OUTPUT_FORMAT = FixedFormat(16, 3, signed=True)
OUTPUT_HEADROOM = 2.0
"""A calibrated output word holds twice the calibration signal's largest output."""
# The input word of a model without an input quantiser (HlsConfig.input_precision's
# default, ap_fixed<16,1>): sign and 15 fractional bits, [-1, 1).
DEFAULT_INPUT_FORMAT = FixedFormat(16, 0, signed=True)
# Word magnitudes the int64 reference can multiply without overflow.
MAX_WORD_BITS = MAX_ACCUMULATOR_BITS - 2


class ExportError(PipelineError):
    """The model cannot be represented by the streaming fixed-point datapath."""


@dataclass
class ConvLayer:
    """One causal dilated convolution, its activation applied to its output.

    `kernel` holds every weight as an integer word with `kernel_frac` fractional bits
    (K, C_in, C_out), po2 weights included (a word ±2^(shift + kernel_frac), where
    kernel_frac is set by the smallest weight), so the reference multiplies words; the
    hardware turns po2 products into shifts."""

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

    @property
    def po2(self) -> bool:
        return isinstance(self.kernel_format, Po2Format)

    def accumulator(self, in_frac: int, in_largest: int) -> Accumulator:
        """The exact accumulator of these weights for inputs of LSB 2^-in_frac up to
        `in_largest` (a word magnitude)."""
        rows = np.abs(self.kernel).astype(object).sum(axis=(0, 1))
        return accumulator(in_frac, in_largest, self.kernel_frac, rows.tolist(),
                           self.bias_format.frac, self.bias.tolist(), self.po2)


@dataclass
class ExportedModel:
    """`output_format` is the word the last layer's exact accumulator is rounded (half to
    even) and saturated to when that layer is linear; otherwise its activation's format.
    `output_peak`: the calibration signal's largest |output| when the output word was sized
    from one (not part of the weight file)."""

    name: str
    input_format: FixedFormat
    layers: list[ConvLayer]
    output_format: FixedFormat
    output_peak: float | None = None

    def accumulators(self) -> list[Accumulator]:
        """Every layer's exact accumulator (`pipeline.fixedpoint.accumulator`)."""
        return _accumulators(self.input_format, self.layers, self.output_format)

    def output_range(self) -> OutputRange:
        last, accumulator = self.layers[-1], self.accumulators()[-1]
        if last.activation is not None:
            worst = last.activation.values(last.activation.largest)
        else:
            worst = accumulator.bound * 2.0**-accumulator.frac
        return OutputRange(float(worst), self.output_peak, self.output_format,
                           last.activation is None)


@dataclass(frozen=True)
class OutputRange:
    """How far the output can reach against its word. `worst_case` is the largest |output|
    any input allows: for a linear last layer max over channels of sum|w| x max|input| +
    |b| (its inputs are bounded by the activation formats before it); for an activation,
    its format's largest value."""

    worst_case: float
    calibration_peak: float | None
    format: FixedFormat
    linear: bool

    @property
    def limit(self) -> float:
        return float(self.format.values(self.format.max_word))

    @property
    def can_saturate(self) -> bool:
        """A linear output beyond its word is clipped, unlike QKeras's float output (an
        activation's saturation is QKeras's own)."""
        return self.linear and self.worst_case > self.limit

    def message(self) -> str:
        peak = ("" if self.calibration_peak is None else
                f"; the calibration signal peaks at {self.calibration_peak:.4g}")
        verdict = ("inputs beyond the calibration signal's can saturate it" if
                   self.can_saturate else "it cannot saturate")
        return (f"output word {self.format} (up to {self.limit:.6g}){peak}; the weights allow "
                f"up to {self.worst_case:.6g}, so {verdict}")

    def metrics(self) -> dict[str, float]:
        figures = {"output_integer_bits": self.format.integer, "output_bits": self.format.bits,
                   "output_worst_case": self.worst_case,
                   "output_can_saturate": int(self.can_saturate)}
        if self.calibration_peak is not None:
            figures["output_calibration_peak"] = self.calibration_peak
        return figures


# ---------------------------------------------------------------- accumulator widths


def _input_words(fmt: FixedFormat | None, accumulator: Accumulator) -> tuple[int, int]:
    """(frac, largest word) of the next layer's input: an activation's words, or a linear
    layer's whole accumulator."""
    if fmt is None:
        return accumulator.frac, accumulator.largest
    return fmt.frac, fmt.largest


def _sum_specs(layers: Sequence[ConvLayer], output_format: FixedFormat | None,
               po2: dict[Po2Format, Po2Format] | None = None) -> list[SumSpec]:
    """The layers' sums as formats (po2 kernel formats replaced as `po2` maps them)."""
    specs = []
    for index, layer in enumerate(layers):
        out = layer.activation or (output_format if index == len(layers) - 1 else None)
        kernel = (po2 or {}).get(layer.kernel_format, layer.kernel_format)
        specs.append(SumSpec(layer.name, kernel, layer.bias_format,
                             layer.kernel_size * layer.in_channels, out))
    return specs


def _po2_feeding(layers: Sequence[ConvLayer], index: int) -> ConvLayer | None:
    """The po2 layer whose sum reaches layer `index` whole: itself, or one before it joined
    by linear layers only (a factorised pair)."""
    while index >= 0:
        if layers[index].po2:
            return layers[index]
        index -= 1
        if index < 0 or layers[index].activation is not None:
            return None
    return None


def _supported_po2(input_format: FixedFormat, layers: Sequence[ConvLayer],
                   output_format: FixedFormat | None, fmt: Po2Format) -> str:
    """The widest po2 kernel like `fmt` whose worst case fits in every layer, as a hint."""
    for bits in range(fmt.bits - 1, 1, -1):
        narrower = narrower_po2(fmt, bits)
        if narrower is not None and too_wide_sum(
                input_format, _sum_specs(layers, output_format, {fmt: narrower})) is None:
            return f"supported: po2 kernels of at most {bits} bits (for any weights)"
    return "supported: no po2 width with these formats"


def _accumulators(input_format: FixedFormat, layers: Sequence[ConvLayer],
                  output_format: FixedFormat | None) -> list[Accumulator]:
    """Each layer's exact accumulator, refusing, naming the layer, one wider than
    MAX_ACCUMULATOR_BITS (the int64 reference could not be exact)."""
    in_frac, in_largest = input_format.frac, input_format.largest
    result = []
    for index, layer in enumerate(layers):
        out = layer.activation or (output_format if index == len(layers) - 1 else None)
        acc = layer.accumulator(in_frac, in_largest)
        needed = acc.working_bits(out.frac if out else None)
        if needed > MAX_ACCUMULATOR_BITS:
            po2 = _po2_feeding(layers, index)
            hint = (_supported_po2(input_format, layers, output_format, po2.kernel_format)
                    if po2 is not None else "use narrower inputs or weights")
            raise ExportError(
                f"{layer.name}: an exact sum needs {needed} accumulator bits (inputs up to "
                f"2^{(in_largest - 1).bit_length() - in_frac} in steps of 2^-{in_frac}, kernel "
                f"{_kernel_text(layer)}, {layer.kernel_size * layer.in_channels} products); "
                f"the fixed-point datapath holds at most {MAX_ACCUMULATOR_BITS} bits; {hint}")
        result.append(acc)
        in_frac, in_largest = _input_words(out, acc)
    return result


def _kernel_text(layer: ConvLayer) -> str:
    if not layer.po2:
        return str(layer.kernel_format)
    shifts = [abs(int(word)).bit_length() - 1 - layer.kernel_frac
              for word in layer.kernel.flat if word != 0]
    if not shifts:
        return f"{layer.kernel_format}, all zero"
    return f"{layer.kernel_format} with weights 2^{min(shifts)}..2^{max(shifts)}"


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


def _on_grid(values: np.ndarray, fmt: FixedFormat, where: str) -> np.ndarray:
    words = values.astype(np.float64) * 2.0**fmt.frac
    bad = (words != np.round(words)) | (words < fmt.min_word) | (words > fmt.max_word)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ExportError(f"{where}: value {values[index]!r} at {list(index)} is not a word "
                          f"of fixed<{fmt.bits},{fmt.integer}> (step 2^-{fmt.frac})")
    return words.astype(np.int64)


def _po2_kernel(sign: np.ndarray, shift: np.ndarray, zero: np.ndarray) -> tuple[np.ndarray, int]:
    """po2 weights as integer words whose LSB is the smallest weight's: (words, frac). Words
    too wide for int64 are Python integers (an object array), so that the accumulator check
    can say how wide the sums would be; `_int64_words` casts them once the check passed."""
    used = shift[zero == 0]
    frac = max(0, -int(used.min())) if used.size else 0
    words = [0 if z else (-1 if s else 1) << (int(h) + frac)
             for s, h, z in zip(sign.flat, shift.flat, zero.flat, strict=True)]
    wide = used.size and int(used.max()) + frac > MAX_WORD_BITS
    return np.array(words, dtype=object if wide else np.int64).reshape(shift.shape), frac


def _int64_words(layers: Sequence[ConvLayer]) -> None:
    """Kernels as int64, after `_accumulators` has shown every sum fits."""
    for layer in layers:
        layer.kernel = layer.kernel.astype(np.int64)


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
        raise ExportError(f"{where}: value {values[index]!r} at {list(index)} is not a power "
                          f"of two in 2^{fmt.min_shift}..2^{fmt.max_shift}")
    return _po2_kernel((values < 0).astype(np.int64), shift.astype(np.int64),
                       zero.astype(np.int64))


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
        kernel_format = po2_format(int(kernel_q.bits), kernel_q.max_value)
        kernel, kernel_frac = _po2_words(kernel_values, kernel_format, f"{name} kernel")
    else:
        kernel_format = _fixed_format(kernel_q, f"{name} kernel")
        kernel, kernel_frac = _on_grid(kernel_values, kernel_format, f"{name} kernel"), \
            kernel_format.frac
    bias_format = _fixed_format(bias_q, f"{name} bias")
    bias = _on_grid(bias_q(layer.bias).numpy(), bias_format, f"{name} bias")
    return ConvLayer(name, int(config["kernel_size"][0]), int(config["dilation_rate"][0]),
                     kernel, kernel_frac, kernel_format, bias, bias_format, activation)


def from_qkeras(model: tf.keras.Model, input_format: FixedFormat | None = None,
                calibration: Sequence[np.ndarray] | None = None,
                output_format: FixedFormat | None = None) -> ExportedModel:
    """Read a chain `input [-> QActivation(quantized_bits)] -> (QConv1D [-> QActivation])*`.

    `input_format`: the input word when the model has no input QActivation (default
    `DEFAULT_INPUT_FORMAT`); a model's own input quantiser always wins. `calibration`:
    signals (T, C_in) whose largest output sizes a linear output word (`size_output`);
    `output_format` sets that word instead."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D

    inputs, outputs = model.inputs or [], model.outputs or []
    if not inputs:
        raise ExportError(f"{model.name}: the model has no input shape yet (build it on an "
                          "Input of shape (None, C) or (T, C))")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"{model.name}: {len(inputs)} inputs and {len(outputs)} outputs; "
                          "only a single chain of layers (one input tensor, one output "
                          "tensor) is supported")
    layers = [layer for layer in model.layers if not isinstance(layer, tf.keras.layers.InputLayer)]
    previous = inputs[0]
    for layer in layers:
        if len(layer.inbound_nodes) != 1 or layer.input is not previous:
            raise ExportError(f"{layer.name}: only a single chain of layers is supported")
        previous = layer.output
    if layers and isinstance(layers[0], QActivation):
        input_format = _fixed_format(layers[0].quantizer, f"{layers[0].name}")
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
    return size_output(model.name, input_format, convs, calibration, output_format)


def size_output(name: str, input_format: FixedFormat, layers: list[ConvLayer],
                calibration: Sequence[np.ndarray] | None = None,
                output_format: FixedFormat | None = None) -> ExportedModel:
    """The exported model with its output word, every accumulator checked first.

    An activation's format is the output word. A linear last layer gets `output_format` if
    given, else 16 bits with the integer bits that hold OUTPUT_HEADROOM x the calibration
    signals' largest |output| (exact, from the reference), or without calibration the
    weights' worst case; never fewer than DEFAULT_OUTPUT_FORMAT's."""
    accumulators = _accumulators(input_format, layers, output_format)
    _int64_words(layers)
    last = layers[-1]
    if last.activation is not None:
        return ExportedModel(name, input_format, layers, last.activation)
    if output_format is not None:
        return ExportedModel(name, input_format, layers, output_format)
    acc = accumulators[-1]
    exact = FixedFormat(acc.bits, acc.bits - 1 - acc.frac, signed=True)
    peak = None
    if calibration:
        from pipeline.reference import FixedPointReference

        reference = FixedPointReference(ExportedModel(name, input_format, layers, exact))
        peak = max(float(np.abs(reference.run(x)).max(initial=0.0)) for x in calibration)
        needed = peak * OUTPUT_HEADROOM
    else:
        needed = acc.bound * 2.0**-acc.frac
    default = DEFAULT_OUTPUT_FORMAT
    integer = default.integer
    while FixedFormat(default.bits, integer, True).values(default.max_word) < needed:
        integer += 1
    model = ExportedModel(name, input_format, layers,
                          FixedFormat(default.bits, integer, signed=True), peak)
    model.accumulators()  # the chosen word, checked like every other width
    return model


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
        if layer.po2:
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


class _Reader:
    """Typed access to the weight file; every error names the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> ExportError:
        return ExportError(f"{self.source}: {where}: {problem}")

    def get(self, entry: object, key: str, where: str) -> object:
        if not isinstance(entry, dict):
            raise self.fail(where or "(top level)",
                            f"expected an object, got {type(entry).__name__}")
        if key not in entry:
            raise self.fail(f"{where}.{key}" if where else key, "missing")
        return entry[key]

    def integer(self, entry: object, key: str, where: str, low: int | None = None) -> int:
        value = self.get(entry, key, where)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {value!r}")
        if low is not None and value < low:
            raise self.fail(path, f"must be at least {low}, got {value}")
        return value

    def text(self, entry: object, key: str, where: str, choices: tuple[str, ...]) -> str:
        value = self.get(entry, key, where)
        if value not in choices:
            raise self.fail(f"{where}.{key}", f"expected one of {', '.join(choices)}, "
                                              f"got {value!r}")
        return value

    def fixed(self, entry: object, key: str, where: str) -> FixedFormat:
        path = f"{where}.{key}" if where else key
        fmt = self.get(entry, key, where)
        signed = self.get(fmt, "signed", path)
        if not isinstance(signed, bool):
            raise self.fail(f"{path}.signed", f"expected true or false, got {signed!r}")
        bits = self.integer(fmt, "bits", path, low=1)
        if bits > MAX_WORD_BITS:
            raise self.fail(f"{path}.bits", f"at most {MAX_WORD_BITS}, got {bits}")
        return FixedFormat(bits, self.integer(fmt, "integer", path), signed)

    def words(self, entry: object, key: str, where: str, shape: tuple[int, ...],
              low: int, high: int) -> np.ndarray:
        path = f"{where}.{key}"
        value = self.get(entry, key, where)
        try:
            array = np.array(value)
        except (ValueError, OverflowError):
            array = None
        if array is None or array.shape != shape or (array.size and array.dtype.kind != "i"):
            raise self.fail(path, f"expected integers of shape {list(shape)}")
        if array.size and (array.min() < low or array.max() > high):
            raise self.fail(path, f"a value outside {low}..{high}")
        return array.astype(np.int64)


def _read_layer(read: _Reader, entry: object, where: str, in_channels: int) -> ConvLayer:
    name = read.get(entry, "name", where)
    if not isinstance(name, str) or not name:
        raise read.fail(f"{where}.name", f"expected a layer name, got {name!r}")
    read.text(entry, "kind", where, ("conv1d_causal",))
    k = read.integer(entry, "kernel_size", where, low=1)
    dilation = read.integer(entry, "dilation", where, low=1)
    c_in = read.integer(entry, "in_channels", where, low=1)
    c_out = read.integer(entry, "out_channels", where, low=1)
    if c_in != in_channels:
        raise read.fail(f"{where}.in_channels", f"{c_in}, but the layer before gives "
                                                f"{in_channels} channels")
    activation_name = read.text(entry, "activation", where, ("relu", "quantized_bits", "linear"))
    activation = None if activation_name == "linear" else read.fixed(entry, "activation_format",
                                                                     where)
    if activation is not None and activation.signed != (activation_name == "quantized_bits"):
        raise read.fail(f"{where}.activation_format.signed",
                        f"does not match activation {activation_name!r}")
    kernel = read.get(entry, "kernel", where)
    shape = (k, c_in, c_out)
    encoding = read.text(kernel, "encoding", f"{where}.kernel", ("fixed", "po2"))
    if encoding == "po2":
        path = f"{where}.kernel"
        fmt_entry = read.get(kernel, "format", path)
        fmt = Po2Format(read.integer(fmt_entry, "bits", f"{path}.format", low=1),
                        read.integer(fmt_entry, "min_shift", f"{path}.format"),
                        read.integer(fmt_entry, "max_shift", f"{path}.format"))
        sign = read.words(kernel, "sign", path, shape, 0, 1)
        shift = read.words(kernel, "shift", path, shape, fmt.min_shift, fmt.max_shift)
        zero = read.words(kernel, "zero", path, shape, 0, 1)
        words, frac = _po2_kernel(sign, shift, zero)
    else:
        fmt = read.fixed(kernel, "format", f"{where}.kernel")
        words = read.words(kernel, "words", f"{where}.kernel", shape, fmt.min_word,
                           fmt.max_word)
        frac = fmt.frac
    bias = read.get(entry, "bias", where)
    bias_format = read.fixed(bias, "format", f"{where}.bias")
    bias_words = read.words(bias, "words", f"{where}.bias", (c_out,), bias_format.min_word,
                            bias_format.max_word)
    return ConvLayer(name, k, dilation, words, frac, fmt, bias_words, bias_format, activation)


def from_dict(payload: object, source: str = "weights") -> ExportedModel:
    """The weight file's content as an exported model; anything missing, mistyped or out of
    range is a one-line ExportError naming `source` and the key."""
    read = _Reader(source)
    version = read.get(payload, "format_version", "")
    if version != FORMAT_VERSION:
        raise ExportError(f"{source}: format_version {version!r} is not supported (expected "
                          f"{FORMAT_VERSION})")
    name = read.get(payload, "model", "")
    input_format = read.fixed(payload, "input_format", "")
    output_format = read.fixed(payload, "output_format", "")
    entries = read.get(payload, "layers", "")
    if not isinstance(entries, list) or not entries:
        raise read.fail("layers", "expected a list of at least one layer")
    layers, channels = [], None
    for index, entry in enumerate(entries):
        where = f"layers.{index}"
        if channels is None:
            channels = read.integer(entry, "in_channels", where, low=1)
        layers.append(_read_layer(read, entry, where, channels))
        channels = layers[-1].out_channels
    try:
        _accumulators(input_format, layers, output_format)
    except ExportError as err:
        raise ExportError(f"{source}: {err}") from None
    _int64_words(layers)
    return ExportedModel(str(name), input_format, layers, output_format)


def write_weights(model: ExportedModel, path: Path) -> None:
    """weights.json, written to a temporary name and renamed."""
    write_text_atomic(path, json.dumps(to_dict(model), indent=1) + "\n")


def read_weights(path: Path) -> ExportedModel:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ExportError(f"{path}: cannot read the weight file ({err.strerror})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise ExportError(f"{path}: not valid JSON at line {err.lineno} column {err.colno} "
                          f"({err.msg})") from None
    return from_dict(payload, str(path))


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
            fmt = layer.kernel_format
            lines += ["/* po2 kernel: weight = (sign ? -1 : 1) * 2^shift, or 0 where zero */",
                      _c_array(f"{name}_shift", shift, _c_type(fmt.min_shift, fmt.max_shift)),
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
