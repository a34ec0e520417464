"""What the hardware of each layer is, decided in Python before any HDL: word widths (from
the bit-exact reference), the fold (from `pipeline.fixed.folding`), the order of the passes, which
rows each row lane owns, and the contents of the weight ROM.

The products of a layer form rows (tap j, input channel i) x output channels; tap j is the
input j*dilation samples ago, kernel index K-1-j. Rows are numbered n = i*K + j, so a
channel's taps are consecutive, newest first. A fold of `rows` row lanes x `outputs` output
lanes gives each row lane a contiguous chunk of `row_passes` rows, and sweeps the output
channels in `output_passes` groups of `outputs`; pass p = group * row_passes + q puts row
q of every chunk against the outputs of the group. The weight ROM holds, per pass, every
lane's weight side by side.

A row lane keeps its own delay lines: one line of `dilation` words per row with j >= 1, in
one memory. Each sample, in the last output group, a row (i, j) moves the word it read
(tap j of channel i) out and the word of tap j-1 in: that is what makes line (i, j) a delay
of j*dilation. The word of tap j-1 is the row read just before in the same chunk, or, for
a chunk that starts inside a channel, the last row of the previous chunk (a carry, written
once the passes are done).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.rtl.ir import (
    ExportedModel,
    FixedPointReference,
    Fold,
    Po2Format,
    ReferenceConv,
    word_range,
)


@dataclass(frozen=True)
class Word:
    """The shape of an integer word in hardware: `bits` wide, two's complement if signed."""

    bits: int
    signed: bool

    @classmethod
    def holding(cls, low: int, high: int) -> Word:
        """The narrowest word that holds every integer in [low, high]."""
        if low >= 0:
            return cls(max(1, int(high).bit_length()), False)
        bits = max(int(high).bit_length(), int(-low - 1).bit_length()) + 1
        return cls(bits, True)

    @property
    def low(self) -> int:
        return word_range(self.bits, self.signed)[0]

    @property
    def high(self) -> int:
        return word_range(self.bits, self.signed)[1]


@dataclass(frozen=True)
class Requantize:
    """Round half to even by `shift` bits (a left shift when negative), then saturate to
    [low, high]: `pipeline.fixed.words.requantize` in hardware."""

    shift: int
    low: int
    high: int


@dataclass(frozen=True)
class RowLane:
    """One row lane: its chunk of rows (tap j, channel i), and where its carry comes from
    when the chunk starts inside a channel (tap j0 >= 1)."""

    rows: tuple[tuple[int, int], ...]

    @property
    def delay_rows(self) -> int:
        """Rows that read a delay line (tap j >= 1): the lines of this lane's memory."""
        return sum(1 for _, j in self.rows if j >= 1)

    @property
    def starts_inside_channel(self) -> bool:
        return bool(self.rows) and self.rows[0][1] >= 1


@dataclass(frozen=True)
class LayerPlan:
    name: str
    kernel_size: int
    dilation: int
    in_channels: int
    out_channels: int
    fold: Fold
    in_word: Word
    out_word: Word
    acc_bits: int
    product_shift: int
    bias: tuple[int, ...]  # aligned to the accumulator's LSB
    requantize: Requantize | None  # None: a linear inner layer passes its accumulator on
    kernel: np.ndarray  # (K, C_in, C_out) integer words
    po2: bool

    # ------------------------------------------------------------ schedule

    @property
    def row_count(self) -> int:
        return self.kernel_size * self.in_channels

    @property
    def passes(self) -> int:
        return self.fold.passes

    def lanes(self) -> list[RowLane]:
        """The row lanes' chunks of rows n = i*K + j, in pass order."""
        span = self.fold.row_passes
        rows = [divmod(n, self.kernel_size) for n in range(self.row_count)]
        return [RowLane(tuple(rows[lane * span:(lane + 1) * span]))
                for lane in range(self.fold.rows)]

    def weight(self, row: tuple[int, int] | None, out: int) -> int:
        """The kernel word of a row (channel i, tap j) and output, 0 for padding."""
        if row is None or out >= self.out_channels:
            return 0
        channel, tap = row
        return int(self.kernel[self.kernel_size - 1 - tap, channel, out])

    def pass_weights(self) -> np.ndarray:
        """(passes, row lanes, output lanes): the weight each lane uses in each pass."""
        fold, lanes = self.fold, self.lanes()
        table = np.zeros((fold.passes, fold.rows, fold.outputs), dtype=np.int64)
        for group in range(fold.output_passes):
            for q in range(fold.row_passes):
                for lane_index, lane in enumerate(lanes):
                    row = lane.rows[q] if q < len(lane.rows) else None
                    for out_lane in range(fold.outputs):
                        table[group * fold.row_passes + q, lane_index, out_lane] = \
                            self.weight(row, group * fold.outputs + out_lane)
        return table

    # ------------------------------------------------------------ weights

    @property
    def weight_word(self) -> Word:
        """The narrowest signed word of this layer's fixed-point kernel."""
        return Word.holding(min(int(self.kernel.min()), -1), int(self.kernel.max()))

    @property
    def po2_exponents(self) -> tuple[int, int]:
        """The smallest and largest exponent e of the layer's non-zero po2 words ±2^e."""
        magnitudes = np.abs(self.kernel[self.kernel != 0])
        if magnitudes.size == 0:
            return 0, 0
        exponents = np.log2(magnitudes).astype(np.int64)
        return int(exponents.min()), int(exponents.max())

    @property
    def po2_shift_bits(self) -> int:
        low, high = self.po2_exponents
        return max(1, (high - low).bit_length())

    @property
    def rom_field_bits(self) -> int:
        """Bits per lane in a ROM word: a weight word, or a po2 code (shift, sign, zero)."""
        return self.po2_shift_bits + 2 if self.po2 else self.weight_word.bits

    def rom_field(self, weight: int) -> int:
        """A weight as the unsigned field the ROM stores for one lane."""
        if not self.po2:
            return weight & ((1 << self.weight_word.bits) - 1)
        if weight == 0:
            return 1  # zero flag
        low, _ = self.po2_exponents
        exponent = int(abs(weight)).bit_length() - 1
        return ((exponent - low) << 2) | (int(weight < 0) << 1)

    def rom(self) -> list[int]:
        """The weight ROM: one word per pass, lane (row lane l, output lane o) at field
        l * outputs + o from the LSB."""
        table = self.pass_weights()
        width = self.rom_field_bits
        words = []
        for lanes in table.reshape(len(table), -1):
            word = 0
            for index, weight in enumerate(lanes):
                word |= self.rom_field(int(weight)) << (index * width)
            words.append(word)
        return words


@dataclass(frozen=True)
class DesignPlan:
    name: str
    in_word: Word
    out_word: Word
    layers: list[LayerPlan]
    clock_hz: float

    @property
    def in_channels(self) -> int:
        return self.layers[0].in_channels

    @property
    def out_channels(self) -> int:
        return self.layers[-1].out_channels


def _layer_plan(conv: ReferenceConv, in_range: tuple[int, int], fold: Fold) -> LayerPlan:
    layer = conv.layer
    if conv.out_format is None:
        out_word, requant = Word.holding(*conv.out_range), None
    else:
        out_word = Word(conv.out_format.bits, conv.out_format.signed)
        low = 0 if layer.relu else conv.out_range[0]  # the ReLU by name, as the IR says
        requant = Requantize(conv.acc_frac - conv.out_frac, low, conv.out_range[1])
    return LayerPlan(
        name=layer.name, kernel_size=layer.kernel_size, dilation=layer.dilation,
        in_channels=layer.in_channels, out_channels=layer.out_channels, fold=fold,
        in_word=Word.holding(*in_range), out_word=out_word,
        acc_bits=conv.accumulator_bits, product_shift=conv.product_shift,
        bias=tuple(int(b) for b in conv.bias), requantize=requant,
        kernel=np.asarray(layer.kernel, dtype=np.int64),
        po2=isinstance(layer.kernel_format, Po2Format))


def plan_design(model: ExportedModel, folds: list[Fold], clock_hz: float) -> DesignPlan:
    """The hardware plan of `model` with one fold per layer."""
    if len(folds) != len(model.layers):
        raise ValueError(f"{len(folds)} folds for {len(model.layers)} layers")
    reference = FixedPointReference(model)
    in_range = (model.input_format.min_word, model.input_format.max_word)
    layers = []
    for conv, fold in zip(reference.layers, folds, strict=True):
        if (fold.row_count, fold.out_count) != (conv.layer.kernel_size * conv.layer.in_channels,
                                                conv.layer.out_channels):
            raise ValueError(f"{conv.layer.name}: fold of {fold.row_count} x {fold.out_count} "
                             "does not match the layer")
        layers.append(_layer_plan(conv, in_range, fold))
        in_range = conv.out_range
    return DesignPlan(model.name, Word.holding(model.input_format.min_word,
                                               model.input_format.max_word),
                      layers[-1].out_word, layers, clock_hz)


ECP5_MULTIPLIER = (18, 18)
"""MULT18X18D: 18 x 18 bits, signed."""
XC7_MULTIPLIER = (25, 18)
"""DSP48E1: 25 x 18 bits, signed."""


def multipliers_per_product(plan: LayerPlan, multiplier: tuple[int, int] = ECP5_MULTIPLIER
                            ) -> int:
    """Hard multipliers one product takes: 0 for a po2 shift; else the wider signed operand
    (an unsigned word needs a sign bit) split over the multiplier's wider input, the
    narrower over its narrower input."""
    if plan.po2:
        return 0
    x_bits = plan.in_word.bits + int(not plan.in_word.signed)
    wide, narrow = sorted((x_bits, plan.weight_word.bits), reverse=True)
    return math.ceil(wide / max(multiplier)) * math.ceil(narrow / min(multiplier))
