"""The intermediate representation of a quantised model: what every backend (the
fixed-point reference, the HLS converter, the RTL generator, the cost model) reads.

A model is a chain of causal dilated convolutions (`ConvLayer`), each with its kernel and
bias as the integer words the hardware stores and the activation applied to its output. Its
input and output words are fixed-point formats. Every layer's exact sum is checked against
`pipeline.fixed.rules.MAX_ACCUMULATOR_BITS` when a model is built (`layer_accumulators`): a
model whose sums would not fit is refused with a one-line error naming the layer and, for
power-of-two kernels, the widths that would fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import PipelineError
from pipeline.fixed.rules import (
    MAX_ACCUMULATOR_BITS,
    Accumulator,
    SumSpec,
    accumulator,
    products,
    receptive_field,
    too_wide_sum,
)
from pipeline.fixed.words import FixedFormat, Po2Format, narrower_po2

MAX_WORD_BITS = MAX_ACCUMULATOR_BITS - 2
"""Word magnitudes the int64 reference can multiply without overflow."""


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
    activation: FixedFormat | None  # the output word; None: linear, the accumulator is passed on
    relu: bool = False  # negatives become 0 before rounding (quantized_relu), said, not implied

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

    @property
    def multiplies(self) -> int:
        """Fixed-point multiplies per sample, zero weights included
        (`pipeline.fixed.rules.products`)."""
        return products(self.kernel, self.po2)[0]

    @property
    def shift_adds(self) -> int:
        """Power-of-two shift-adds per sample (`pipeline.fixed.rules.products`)."""
        return products(self.kernel, self.po2)[1]

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

    @property
    def receptive_field(self) -> int:
        return receptive_field((layer.kernel_size, layer.dilation) for layer in self.layers)

    def accumulators(self) -> list[Accumulator]:
        """Every layer's exact accumulator (`pipeline.fixed.rules.accumulator`)."""
        return layer_accumulators(self.input_format, self.layers, self.output_format)


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


def layer_accumulators(input_format: FixedFormat, layers: Sequence[ConvLayer],
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


# ---------------------------------------------------------------- po2 kernels


def po2_fields(layer: ConvLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sign, shift, zero) of a po2 kernel: weight = (-1)^sign * 2^shift, or 0 where zero."""
    magnitude = np.abs(layer.kernel)
    zero = magnitude == 0
    shift = np.log2(np.where(zero, 1, magnitude)).astype(np.int64) - layer.kernel_frac
    return ((layer.kernel < 0).astype(np.int64), np.where(zero, 0, shift),
            zero.astype(np.int64))


def po2_kernel(sign: np.ndarray, shift: np.ndarray, zero: np.ndarray) -> tuple[np.ndarray, int]:
    """po2 weights as integer words whose LSB is the smallest weight's: (words, frac). Words
    too wide for int64 are Python integers (an object array), so that the accumulator check
    can say how wide the sums would be; `int64_words` casts them once the check passed."""
    used = shift[zero == 0]
    frac = max(0, -int(used.min())) if used.size else 0
    words = [0 if z else (-1 if s else 1) << (int(h) + frac)
             for s, h, z in zip(sign.flat, shift.flat, zero.flat, strict=True)]
    wide = used.size and int(used.max()) + frac > MAX_WORD_BITS
    return np.array(words, dtype=object if wide else np.int64).reshape(shift.shape), frac


def int64_words(layers: Sequence[ConvLayer]) -> None:
    """Kernels as int64, after `layer_accumulators` has shown every sum fits."""
    for layer in layers:
        layer.kernel = layer.kernel.astype(np.int64)


def activation_name(layer: ConvLayer) -> str:
    """The activation's name in the weight file: relu, quantized_bits or linear."""
    if layer.relu:
        return "relu"
    return "linear" if layer.activation is None else "quantized_bits"


