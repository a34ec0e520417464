"""Analytic FPGA cost of the folded streaming design, because no vendor synthesis tool runs
here. It follows the HLS design of `pipeline.hls` (docs/hls.md), layer by layer, for a
7-series part (DSP48E1, 6-input LUTs, BRAM18); docs/fpga-cost.md states every assumption
and compares the estimate with yosys's synthesis of the RTL design of the same folded
datapath (`pipeline.rtl`).

Per layer, from its fold (`pipeline.fixed.folding.layer_folds`: `lanes` = outputs x rows
product units, `passes` clocks of product work per sample) and its words:

- DSP48E1: a fixed-point lane is one multiplier; a product of an a-bit and a b-bit signed
  operand takes ceil(a / 25) x ceil(b / 18) slices (a the wider; an unsigned word needs a
  sign bit). A po2 lane is a shifter: no DSP.
- LUTs: po2 shifters (a barrel shifter over the exponent type's shifts and a negation), the
  adder tree of rows side by side, the accumulators, the operand multiplexers, rounding and
  saturation, weight ROMs and delay lines small enough for LUTs, and control (counters).
- Flip-flops: the sample held while the passes run, operand, product and tree registers, the
  accumulators, the results, counters and pipeline valid bits.
- BRAM18: delay lines and weight ROMs deeper than LUT_MEMORY_DEPTH, in the best of the
  BRAM18 aspect ratios.
- Timing: a layer's interval is its passes plus the pipelined loop's depth and two cycles
  (taking the sample in, handing the result on); its latency is the same, as a sample goes
  through it in one call. The design's II is its slowest process's interval (the processes
  of the DATAFLOW region work side by side); its latency is the sum of the processes'.

Between the layers, the streams (depth-2 FIFOs of whole samples) and the AXI4-Stream input
and output processes are counted once for the design (`edge_lut`, `edge_ff`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pipeline.config import HlsConfig
from pipeline.fixed.folding import Fold, layer_folds, line_slots
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.words import Po2Format

DSP_A_BITS, DSP_B_BITS = 25, 18
"""A DSP48E1 multiplies a 25-bit by an 18-bit signed operand."""
LUT_MEMORY_DEPTH = 64
"""A memory of at most this many words is LUTs (a LUT6 is a 64 x 1 ROM; a RAM64M holds
64 x 3 bits of a one-read, one-write memory in 4 LUTs), a deeper one BRAM18."""
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
"""(depth, width) configurations of a BRAM18."""
PRODUCT_CYCLES = 2
"""A product lane's stages: the operand register (a DSP48E1's A/B registers) and the product
register (its M register; for a po2 lane, the shifted and negated word)."""
TREE_LEVELS_PER_CYCLE = 2
"""Adder-tree levels between registers."""
FIFO_CONTROL_LUT, FIFO_CONTROL_FF = 8, 4
"""A depth-2 FIFO's handshake and pointer logic besides its data."""


@dataclass(frozen=True)
class LayerCost:
    name: str
    lanes: int
    passes: int  # the ReuseFactor
    po2: bool
    multiplies: int  # per sample (pipeline.fixed.rules.products)
    shift_adds: int
    dsp: int
    lut: int
    ff: int
    bram18: int
    cache_bits: int
    interval_cycles: int
    latency_cycles: int


@dataclass(frozen=True)
class DesignCost:
    layers: list[LayerCost]
    clock_hz: float
    edge_lut: int  # the streams between processes and the AXI4-Stream input and output
    edge_ff: int
    edge_interval_cycles: int
    edge_latency_cycles: int

    @property
    def dsp(self) -> int:
        return sum(layer.dsp for layer in self.layers)

    @property
    def lut(self) -> int:
        return sum(layer.lut for layer in self.layers) + self.edge_lut

    @property
    def ff(self) -> int:
        return sum(layer.ff for layer in self.layers) + self.edge_ff

    @property
    def bram18(self) -> int:
        return sum(layer.bram18 for layer in self.layers)

    @property
    def latency_cycles(self) -> int:
        return sum(layer.latency_cycles for layer in self.layers) + self.edge_latency_cycles

    @property
    def ii_cycles(self) -> int:
        """Clocks between samples: the slowest process's interval."""
        return max([layer.interval_cycles for layer in self.layers]
                   + [self.edge_interval_cycles])

    @property
    def max_sample_rate_hz(self) -> float:
        return self.clock_hz / self.ii_cycles

    def summary(self) -> dict[str, float | list[int]]:
        """The figures under the names the metrics use; `reuse_factors` is each layer's
        passes."""
        return {"est_dsp": self.dsp, "est_lut": self.lut, "est_ff": self.ff,
                "est_bram18": self.bram18,
                "est_shift_adds": sum(layer.shift_adds for layer in self.layers),
                "est_cache_bits": sum(layer.cache_bits for layer in self.layers),
                "est_latency_cycles": self.latency_cycles,
                "est_ii_cycles": self.ii_cycles,
                "est_max_sample_rate_hz": self.max_sample_rate_hz,
                "reuse_factors": [layer.passes for layer in self.layers]}

    def rows(self) -> list[dict]:
        return [asdict(layer) for layer in self.layers]


def bits_for(value: int) -> int:
    """Bits of a counter that holds 0 .. value."""
    return max(1, int(value).bit_length())


def dsp_per_product(x_bits: int, x_signed: bool, w_bits: int) -> int:
    """DSP48E1 slices for one product of an x_bits input word (a sign bit added if it is
    unsigned) and a w_bits signed weight."""
    wide, narrow = sorted((x_bits + int(not x_signed), w_bits), reverse=True)
    return math.ceil(wide / DSP_A_BITS) * math.ceil(narrow / DSP_B_BITS)


def mux_luts(inputs: int) -> int:
    """LUT6s per bit of an inputs:1 multiplexer (a LUT6 is a 4:1 multiplexer)."""
    return 0 if inputs <= 1 else math.ceil((inputs - 1) / 3)


def bram18(depth: int, width: int) -> int:
    """BRAM18s of a depth x width memory, in the best aspect ratio."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM18_SHAPES)


@dataclass(frozen=True)
class Memory:
    """A memory as LUTs (ROM: a LUT6 per 64 x 1; one-read, one-write RAM: 4 LUTs per 64 x 3)
    or BRAM18s, by LUT_MEMORY_DEPTH."""

    lut: int
    bram18: int
    ff: int  # the output register of a LUT memory (a BRAM18 has its own)

    @classmethod
    def of(cls, depth: int, width: int, ram: bool) -> Memory:
        if depth <= 1 or width == 0:
            return cls(0, 0, 0)
        if depth > LUT_MEMORY_DEPTH:
            return cls(0, bram18(depth, width), 0)
        lut = 4 * math.ceil(width / 3) if ram else width
        return cls(lut, 0, width)


@dataclass(frozen=True)
class LayerWords:
    """The widths a layer's hardware is built from."""

    in_bits: int
    in_signed: bool
    weight_bits: int
    acc_bits: int
    out_bits: int
    rounds: bool  # rounds and saturates its sum (False: a linear inner layer passes it on)
    shifts: int  # po2: shift values the exponent type holds (the barrel shifter's range)


def _po2_shift_values(fmt: Po2Format) -> int:
    """Shifts the layer's exponent type spans (pipeline.hls.converter: the format's range and
    the zero code below it, in a signed type)."""
    width = max(fmt.max_shift.bit_length(), (-fmt.min_shift).bit_length()) + 1
    return 1 << width


def layer_words(model: ExportedModel) -> list[LayerWords]:
    words = []
    in_bits, in_signed = model.input_format.bits, model.input_format.signed
    for index, (layer, acc) in enumerate(zip(model.layers, model.accumulators(), strict=True)):
        last = index == len(model.layers) - 1
        out = layer.activation or (model.output_format if last else None)
        po2 = isinstance(layer.kernel_format, Po2Format)
        shifts = _po2_shift_values(layer.kernel_format) if po2 else 0
        weight_bits = (bits_for(shifts - 1) + 1) if po2 else layer.kernel_format.bits
        out_bits = out.bits if out is not None else acc.bits
        words.append(LayerWords(in_bits, in_signed, weight_bits, acc.bits, out_bits,
                                out is not None, shifts))
        in_bits, in_signed = out_bits, out.signed if out is not None else True
    return words


def pipeline_depth(fold: Fold) -> int:
    """Stages of one pass of the pipelined loop: the memories' read (weight ROM, delay line),
    the product lane (PRODUCT_CYCLES), the adder tree of rows side by side, the
    accumulation, and the rounding into the results."""
    levels = math.ceil(math.log2(fold.rows)) if fold.rows > 1 else 0
    return 1 + PRODUCT_CYCLES + math.ceil(levels / TREE_LEVELS_PER_CYCLE) + 1 + 1


def layer_cost(model: ExportedModel, index: int, fold: Fold, words: LayerWords) -> LayerCost:
    """One layer of the HLS design (docs/fpga-cost.md gives every term)."""
    layer = model.layers[index]
    po2 = isinstance(layer.kernel_format, Po2Format)
    k, n_in = layer.kernel_size, layer.in_channels
    acc, x = words.acc_bits, words.in_bits

    # Product lanes.
    dsp = 0 if po2 else fold.lanes * dsp_per_product(x, words.in_signed, words.weight_bits)
    stages = bits_for(words.shifts - 1)
    shifter_lut = fold.lanes * acc * (math.ceil(stages / 2) + 1) if po2 else 0
    product_ff = fold.lanes * acc if po2 else 0  # a DSP keeps its own registers
    # Adder tree over the row lanes, registered every TREE_LEVELS_PER_CYCLE levels.
    tree_lut = fold.outputs * (fold.rows - 1) * acc
    levels = math.ceil(math.log2(fold.rows)) if fold.rows > 1 else 0
    tree_ff = fold.outputs * acc * (levels // TREE_LEVELS_PER_CYCLE)
    # Accumulators: an adder and the bias load, a LUT per bit.
    acc_lut, acc_ff = fold.outputs * acc, fold.outputs * acc
    # Operands: each row lane picks its channel of the sample or its delay-line word, masked.
    operand_lut = fold.rows * x * (mux_luts(n_in) + 1)
    operand_ff = fold.rows * x
    # Rounding and saturation of each output lane, and the results of every output.
    round_lut = fold.outputs * (2 * words.out_bits + math.ceil(max(0, acc - words.out_bits) / 3)) \
        if words.rounds else 0
    results_ff = fold.outputs * fold.output_passes * words.out_bits
    # Memories: the weight ROM (a pass's weights in one word) and each row lane's delay lines.
    rom = Memory.of(fold.passes, fold.lanes * words.weight_bits, ram=False)
    lines = Memory.of(line_slots(fold, k) * layer.dilation, x, ram=True)
    # Control: the pass counters, each row lane's channel, tap and slot, head and fill, the
    # carried word, pipeline valid bits and the state machine.
    depth = pipeline_depth(fold)
    line_words = line_slots(fold, k) * layer.dilation
    counter_bits = (bits_for(fold.passes) + bits_for(fold.row_passes)
                    + bits_for(fold.output_passes)
                    + fold.rows * (bits_for(fold.row_passes * fold.rows // k + 1) + bits_for(k)
                                   + bits_for(line_words))
                    + bits_for(layer.dilation - 1) + bits_for((k - 1) * layer.dilation))
    control_lut = counter_bits + fold.rows * bits_for(line_words) + fold.output_passes + 10
    control_ff = counter_bits + x + depth + 4
    sample_ff = n_in * x + 1

    lut = (shifter_lut + tree_lut + acc_lut + operand_lut + round_lut + rom.lut
           + fold.rows * lines.lut + control_lut)
    ff = (product_ff + tree_ff + acc_ff + operand_ff + results_ff + rom.ff
          + fold.rows * lines.ff + control_ff + sample_ff)
    interval = fold.passes + depth + 2
    return LayerCost(
        name=layer.name, lanes=fold.lanes, passes=fold.passes, po2=po2,
        multiplies=layer.multiplies, shift_adds=layer.shift_adds, dsp=dsp, lut=lut, ff=ff,
        bram18=rom.bram18 + fold.rows * lines.bram18,
        cache_bits=fold.rows * line_words * x, interval_cycles=interval,
        latency_cycles=interval)


def estimate(exported: ExportedModel, config: HlsConfig) -> DesignCost:
    """Per-layer and total cost of the design `pipeline.hls` generates for `exported`."""
    folds = layer_folds(exported, config)
    words = layer_words(exported)
    layers = [layer_cost(exported, index, fold, word)
              for index, (fold, word) in enumerate(zip(folds, words, strict=True))]
    # Streams: one depth-2 FIFO of whole samples (words and the flag) before each layer and
    # after the last; the AXI4-Stream processes each hold one word.
    widths = [layer.in_channels * word.in_bits + 1
              for layer, word in zip(exported.layers, words, strict=True)]
    widths.append(exported.layers[-1].out_channels * words[-1].out_bits + 1)
    edge_lut = sum(width + FIFO_CONTROL_LUT for width in widths)
    edge_ff = sum(width + FIFO_CONTROL_FF for width in widths) + widths[0] + widths[-1]
    return DesignCost(layers, 1e9 / config.clock_period_ns, edge_lut, edge_ff,
                      edge_interval_cycles=2, edge_latency_cycles=2 * 2 + len(widths))
