"""The rules every backend shares: how wide a layer's exact sum is, how long the model's
memory is, and how many products a sample costs. The reference, the HLS converter, the RTL
generator, the cost model and the config check all take them from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.fixed.words import FixedFormat, Po2Format

MAX_ACCUMULATOR_BITS = 63
"""The widest exact accumulator (sign included): the reference sums in int64, and a sum
whose bound is below 2^62 keeps every partial sum, the sign and the overflow guard in range."""


@dataclass(frozen=True)
class Accumulator:
    """A layer's exact sum: products and bias aligned to one LSB 2^-frac, in `bits` bits
    (sign included), which hold `bound`, the largest magnitude a sum can reach, in LSBs."""

    frac: int
    bits: int
    bound: int
    product_shift: int  # products (input LSB x kernel LSB) up to the accumulator's LSB
    bias_shift: int

    @property
    def largest(self) -> int:
        """The largest magnitude of the accumulator as the next layer's input word."""
        return 1 << (self.bits - 1)

    def working_bits(self, out_frac: int | None) -> int:
        """Bits needed to hold the sum and, for an output word finer than the accumulator,
        the sum moved up to that word's LSB before saturation."""
        return self.bits + max(0, (out_frac if out_frac is not None else self.frac) - self.frac)


def accumulator(in_frac: int, in_largest: int, kernel_frac: int, row_sums: Iterable[int],
                bias_frac: int, biases: Iterable[int], po2: bool = False) -> Accumulator:
    """The exact accumulator of a layer: inputs of LSB 2^-in_frac up to `in_largest` (a word),
    `row_sums` the sum of |kernel word| feeding each output channel, `biases` their bias
    words (or, for a worst case over formats, one row: fan-in x the largest kernel word, and
    the largest bias word). Its LSB is the products' (in_frac + kernel_frac) or the bias's,
    whichever is finer; `bound` is max over channels of row_sum x in_largest + |bias| at
    that LSB. A po2 product is the input shifted inside the accumulator, so for po2 kernels
    the accumulator also holds the largest input word. Python integers: no overflow here."""
    frac = max(in_frac + kernel_frac, bias_frac)
    product_shift, bias_shift = frac - in_frac - kernel_frac, frac - bias_frac
    bound = max((int(row) * in_largest << product_shift) + (abs(int(bias)) << bias_shift)
                for row, bias in zip(row_sums, biases, strict=True))
    if po2:
        bound = max(bound, in_largest << (frac - in_frac))
    return Accumulator(frac, bound.bit_length() + 1, bound, product_shift, bias_shift)


def _grid(fmt: FixedFormat | Po2Format) -> tuple[int, int]:
    """(fractional bits, largest word) of any weight of this format."""
    if isinstance(fmt, Po2Format):
        return -fmt.min_shift, 1 << (fmt.max_shift - fmt.min_shift)
    return fmt.frac, fmt.largest


def worst_case_accumulator(in_frac: int, in_largest: int, kernel: FixedFormat | Po2Format,
                           bias: FixedFormat | Po2Format, fan_in: int) -> Accumulator:
    """The accumulator any weights of these formats may need: every one of the `fan_in`
    kernel words at its largest magnitude, and the bias too."""
    (kernel_frac, kernel_largest), (bias_frac, bias_largest) = _grid(kernel), _grid(bias)
    return accumulator(in_frac, in_largest, kernel_frac, [fan_in * kernel_largest], bias_frac,
                       [bias_largest], po2=isinstance(kernel, Po2Format))


@dataclass(frozen=True)
class SumSpec:
    """One layer's sum described by formats only: `out` is the word its accumulator is
    rounded to (None: passed on whole to the next layer, as a linear layer inside does)."""

    name: str
    kernel: FixedFormat | Po2Format
    bias: FixedFormat | Po2Format
    fan_in: int  # kernel size x input channels
    out: FixedFormat | None


def too_wide_sum(input_format: FixedFormat, sums: Iterable[SumSpec]) -> tuple[int, str] | None:
    """The first layer whose worst case over its formats needs more than
    MAX_ACCUMULATOR_BITS, as (bits needed, its name); None if every sum fits."""
    in_frac, in_largest = input_format.frac, input_format.largest
    for spec in sums:
        acc = worst_case_accumulator(in_frac, in_largest, spec.kernel, spec.bias, spec.fan_in)
        needed = acc.working_bits(spec.out.frac if spec.out is not None else None)
        if needed > MAX_ACCUMULATOR_BITS:
            return needed, spec.name
        out = spec.out
        in_frac, in_largest = (out.frac, out.largest) if out else (acc.frac, acc.largest)
    return None


def receptive_field(layers: Iterable[tuple[int, int]]) -> int:
    """Samples of input one output sample depends on, for (kernel size, dilation) pairs:
    1 + sum((K - 1) * dilation)."""
    return 1 + sum((kernel_size - 1) * dilation for kernel_size, dilation in layers)


def parameters(kernel_size: int, in_channels: int, out_channels: int) -> int:
    """A convolution's weights and biases."""
    return kernel_size * in_channels * out_channels + out_channels


def products(kernel: np.ndarray, po2: bool) -> tuple[int, int]:
    """(multiplies, shift-adds) that one sample costs a layer with these kernel words, as the
    folded datapath computes them: every weight takes a lane slot, zeros included
    (K*C_in*C_out products; `pipeline.fixed.folding`). A fold shares a product unit between
    slots, not between non-zero weights, so a zero weight costs a slot like any other. The
    products are multiplies for a fixed-point kernel and shifts (with an add) for a
    power-of-two one."""
    slots = int(np.asarray(kernel).size)
    return (0, slots) if po2 else (slots, 0)
