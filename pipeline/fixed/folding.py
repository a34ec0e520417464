"""Folding: how a layer's products are spread over clock cycles. One rule for the HLS
design, the RTL design and the cost model.

A causal convolution computes K*C_in*C_out products per sample: multiplies for a
fixed-point kernel, shift-adds for a power-of-two one. Its products form a grid of `rows`
(one per tap k and input channel i: K*C_in rows) by C_out columns. A fold puts `lanes`
product units (multipliers or shifters) side by side:

- `outputs` lanes across the output channels of one row (1 .. C_out), and, once every
  output has a lane, `rows` rows at a time (1 .. K*C_in), summed by an adder tree;
- one pass of the lanes takes one clock, so a sample takes
  `passes = ceil(K*C_in / rows) * ceil(C_out / outputs)` clocks.

The ReuseFactor of hls4ml is the number of passes: 1 is fully parallel (one unit per
product), K*C_in*C_out is one unit for the whole layer.

At an audio rate the clock allows many passes per sample: at 100 MHz and 192 kHz there are
520 clocks per sample. A layer's interval is its passes plus `LAYER_OVERHEAD_CYCLES` (taking
the sample in, the delay-line read, the product and accumulator registers, rounding and
handing the result on); the layers work on successive samples side by side, so the design
keeps up when every layer's interval fits in the clocks of one sample period.
`fold_for_rate` therefore picks, per layer, the fold with the fewest lanes whose interval
fits, and among those the fewest passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import HlsConfig
    from pipeline.fixed.ir import ExportedModel

LAYER_OVERHEAD_CYCLES = 8
"""Clocks a layer spends per sample besides its passes: 1 to take the sample in, 1 to read
the delay lines, 3 for the registered product, 1 to accumulate, 1 to round and saturate, 1
to hand the result on. Each backend keeps its layers within this."""


class FoldError(ValueError):
    """No fold meets the request (a rate the clock cannot reach, or a bad ReuseFactor)."""


@dataclass(frozen=True)
class Fold:
    """A layer of `row_count` = K*C_in rows and `out_count` = C_out output channels, with
    `outputs` x `rows` product lanes."""

    row_count: int
    out_count: int
    outputs: int
    rows: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.outputs <= self.out_count or not 1 <= self.rows <= self.row_count:
            raise FoldError(f"fold of {self.outputs} outputs x {self.rows} rows does not fit "
                            f"a layer of {self.row_count} rows x {self.out_count} outputs")
        if self.rows > 1 and self.outputs != self.out_count:
            raise FoldError("rows side by side need a lane for every output channel")

    @property
    def lanes(self) -> int:
        """Product units working side by side: multipliers, or po2 shift-adders."""
        return self.outputs * self.rows

    @property
    def row_passes(self) -> int:
        return math.ceil(self.row_count / self.rows)

    @property
    def output_passes(self) -> int:
        return math.ceil(self.out_count / self.outputs)

    @property
    def passes(self) -> int:
        """Clocks of product work per sample: the ReuseFactor."""
        return self.row_passes * self.output_passes

    @property
    def interval(self) -> int:
        """Clocks between samples the layer can take: its passes and its overhead."""
        return self.passes + LAYER_OVERHEAD_CYCLES


def dealt_rows(fold: Fold, lane: int) -> range:
    """The rows row lane `lane` takes when rows are dealt to the row lanes in turn (the HLS
    layer: pass q gives lane l row q * rows + l)."""
    return range(lane, fold.row_count, fold.rows)


def line_slots(fold: Fold, kernel_size: int) -> int:
    """Delay lines of `dilation` words the busiest row lane keeps in the HLS layer: one per
    row of tap j >= 1 among its dealt rows (row n is tap n % K)."""
    return max(sum(1 for row in dealt_rows(fold, lane) if row % kernel_size)
               for lane in range(fold.rows))


def folds(row_count: int, out_count: int) -> list[Fold]:
    """Every fold of a layer, fewest lanes first, then fewest passes."""
    candidates = [Fold(row_count, out_count, outputs) for outputs in range(1, out_count + 1)]
    candidates += [Fold(row_count, out_count, out_count, rows)
                   for rows in range(2, row_count + 1)]
    return sorted(candidates, key=lambda fold: (fold.lanes, fold.passes))


def fold_for_passes(row_count: int, out_count: int, max_passes: int) -> Fold:
    """The fold with the fewest lanes that takes at most `max_passes` passes: what an
    explicit ReuseFactor asks for."""
    if max_passes < 1:
        raise FoldError(f"a ReuseFactor must be at least 1, got {max_passes}")
    return next(fold for fold in folds(row_count, out_count) if fold.passes <= max_passes)


def clocks_per_sample(clock_hz: float, sample_rate_hz: float) -> int:
    """Whole clocks in one sample period."""
    return math.floor(clock_hz / sample_rate_hz)


def fold_for_rate(row_count: int, out_count: int, clock_hz: float,
                  sample_rate_hz: float) -> Fold:
    """The fold with the fewest lanes whose interval fits in one sample period."""
    budget = clocks_per_sample(clock_hz, sample_rate_hz) - LAYER_OVERHEAD_CYCLES
    if budget < 1:
        raise FoldError(
            f"{sample_rate_hz:g} samples/s at a {clock_hz / 1e6:g} MHz clock leaves "
            f"{clocks_per_sample(clock_hz, sample_rate_hz)} clocks per sample; a layer "
            f"needs at least {LAYER_OVERHEAD_CYCLES + 1}")
    return fold_for_passes(row_count, out_count, budget)


def layer_folds(model: ExportedModel, config: HlsConfig) -> list[Fold]:
    """Each layer's fold, the first setting that applies winning:

    1. the layer's own `hls.layers.<name>.reuse_factor` (an explicit ReuseFactor,
       `fold_for_passes`);
    2. the layer's own `hls.layers.<name>.target_sample_rate_hz` (`fold_for_rate`);
    3. the model-wide `hls.reuse_factor`;
    4. the model-wide `hls.target_sample_rate_hz` at `hls.clock_period_ns`.

    A layer's own setting beats a model-wide one, and a ReuseFactor beats a rate at the
    same level."""
    names = [layer.name for layer in model.layers]
    for name in config.layers:
        if name not in names:
            raise ConfigError(f"hls.layers: {name} is not a layer of {model.name} "
                              f"(layers: {', '.join(names)})")
    clock_hz = 1e9 / config.clock_period_ns
    folds = []
    for layer in model.layers:
        rows, outs = layer.kernel_size * layer.in_channels, layer.out_channels
        override = config.layers.get(layer.name)
        try:
            if override is not None and override.reuse_factor is not None:
                folds.append(fold_for_passes(rows, outs, override.reuse_factor))
            elif override is not None and override.target_sample_rate_hz is not None:
                folds.append(fold_for_rate(rows, outs, clock_hz, override.target_sample_rate_hz))
            elif config.reuse_factor is not None:
                folds.append(fold_for_passes(rows, outs, config.reuse_factor))
            else:
                folds.append(fold_for_rate(rows, outs, clock_hz, config.target_sample_rate_hz))
        except FoldError as err:
            raise ConfigError(f"hls: layer {layer.name}: {err}") from None
    return folds


def passes_label(passes: list[float]) -> str:
    """Each layer's passes (its ReuseFactor) as `192/512/64`: how the report and the design
    runs name a folding."""
    return "/".join(f"{value:g}" for value in passes)
