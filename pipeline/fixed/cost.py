"""Analytic FPGA cost of the streaming design, because no synthesis tool runs here.

Assumptions (docs/fpga-cost.md explains them; synthesis reports are the real figures):

- Multipliers: one per non-zero fixed-point weight per sample (HLS does not prune or fold
  constant weights in this estimate), shared by the layer's ReuseFactor R:
  ceil(multiplies / R). A multiply of an a-bit input by a b-bit weight takes
  ceil(a / 25) * ceil(b / 18) DSP48E1 slices (25 x 18 signed), one for 16 x 16.
- Power-of-two weights are shifts (wiring) and one adder each: `shift_adds` per sample.
- Cache: K-1 delay lines per layer, each split per input channel (the layer's pragmas), so
  (K-1) * C_in memories of `dilation` words. A memory of at most `REGISTER_BITS` bits is
  registers or LUTRAM; a larger one takes ceil(width / 18) * ceil(depth / 1024) BRAM18
  (the 1K x 18 configuration).
- Timing: at ReuseFactor 1 each layer is fully parallel and the top function is pipelined;
  a layer's latency is one cycle to read its cache, `MULTIPLY_CYCLES` for a DSP multiply
  (none for shifts), an adder tree of ceil(log2(terms)) levels at `ADDS_PER_CYCLE` levels
  per cycle, one cycle to round and saturate, and R - 1 extra cycles when multipliers are
  shared. The initiation interval is the largest R; the highest sample rate is the clock
  divided by it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pipeline.config import HlsConfig
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.words import Po2Format

REGISTER_BITS = 1024
MULTIPLY_CYCLES = 3
ADDS_PER_CYCLE = 2
DSP_A_BITS, DSP_B_BITS = 25, 18
BRAM18_DEPTH, BRAM18_WIDTH = 1024, 18


@dataclass(frozen=True)
class LayerCost:
    name: str
    reuse_factor: int
    multiplies: int  # per sample, before sharing
    dsp: int
    shift_adds: int
    cache_bits: int
    bram18: int
    latency_cycles: int


@dataclass(frozen=True)
class DesignCost:
    layers: list[LayerCost]
    clock_hz: float

    @property
    def dsp(self) -> int:
        return sum(layer.dsp for layer in self.layers)

    @property
    def bram18(self) -> int:
        return sum(layer.bram18 for layer in self.layers)

    @property
    def latency_cycles(self) -> int:
        return sum(layer.latency_cycles for layer in self.layers)

    @property
    def initiation_interval(self) -> int:
        return max(layer.reuse_factor for layer in self.layers)

    @property
    def max_sample_rate_hz(self) -> float:
        return self.clock_hz / self.initiation_interval

    def summary(self) -> dict[str, float]:
        """The totals under the names the metrics use."""
        return {"est_dsp": self.dsp, "est_bram18": self.bram18,
                "est_shift_adds": sum(layer.shift_adds for layer in self.layers),
                "est_cache_bits": sum(layer.cache_bits for layer in self.layers),
                "est_latency_cycles": self.latency_cycles,
                "est_initiation_interval": self.initiation_interval,
                "est_max_sample_rate_hz": self.max_sample_rate_hz}

    def rows(self) -> list[dict]:
        return [asdict(layer) for layer in self.layers]


def _memory_bram18(depth: int, width: int) -> int:
    if depth * width <= REGISTER_BITS:
        return 0
    return math.ceil(width / BRAM18_WIDTH) * math.ceil(depth / BRAM18_DEPTH)


def estimate(exported: ExportedModel, config: HlsConfig) -> DesignCost:
    """Per-layer and total cost of the design `pipeline.hls` generates for `exported`."""
    in_bits = exported.input_format.bits
    layers = []
    for index, (layer, acc) in enumerate(zip(exported.layers, exported.accumulators(),
                                             strict=True)):
        overrides = config.layers.get(layer.name)
        reuse = (overrides and overrides.reuse_factor) or config.reuse_factor
        po2 = isinstance(layer.kernel_format, Po2Format)
        multiplies = layer.multiplies
        dsp_each = math.ceil(max(in_bits, layer.kernel_format.bits) / DSP_A_BITS) * \
            math.ceil(min(in_bits, layer.kernel_format.bits) / DSP_B_BITS)
        terms = layer.kernel_size * layer.in_channels + 1  # products and the bias
        latency = (1 + (0 if po2 else MULTIPLY_CYCLES)
                   + math.ceil(math.ceil(math.log2(terms)) / ADDS_PER_CYCLE) + 1 + reuse - 1)
        memories = (layer.kernel_size - 1) * layer.in_channels
        layers.append(LayerCost(
            name=layer.name, reuse_factor=reuse, multiplies=multiplies,
            dsp=math.ceil(multiplies / reuse) * dsp_each,
            shift_adds=layer.shift_adds,
            cache_bits=memories * layer.dilation * in_bits,
            bram18=memories * _memory_bram18(layer.dilation, in_bits),
            latency_cycles=latency))
        last = index == len(exported.layers) - 1
        out = layer.activation or (exported.output_format if last else None)
        in_bits = out.bits if out else acc.bits
    return DesignCost(layers, 1e9 / config.clock_period_ns)
