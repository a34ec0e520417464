"""The `hls` section of params.yaml: the generated HLS project's part, clock, folding and
per-layer types."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from pipeline.config.base import FieldProblem, Strict
from pipeline.fixed.words import FixedFormat, parse_ap_fixed

AP_MAX_WIDTH = 1024
"""Widest ap_(u)fixed / ap_(u)int the ap_types headers accept by default (AP_INT_MAX_W)."""
_AP_ROUNDING = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_INF",
                "AP_RND_MIN_INF", "AP_RND_CONV")
_AP_SATURATION = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")  # hls4ml has no AP_WRAP_SM


def _ap_type_problem(text: str) -> str | None:
    """What is wrong with an HLS precision string that hls4ml's converter would parse, or
    None: ap_(u)fixed<W,I[,Q[,O[,N]]]> or ap_(u)int<W>."""
    match = re.fullmatch(r"ap_u?(fixed|int)<([^<>]*)>", text)
    if match is None:
        return ("expected ap_fixed<W,I>, ap_ufixed<W,I> (optionally with ,Q,O,N), ap_int<W> "
                "or ap_uint<W>")
    kind, fields = match[1], [field.strip() for field in match[2].split(",")]
    if kind == "fixed" and not 2 <= len(fields) <= 5:
        return "ap_fixed takes <W,I[,Q[,O[,N]]]>"
    if kind == "int" and len(fields) != 1:
        return "ap_int takes <W>"
    if not re.fullmatch(r"[0-9]+", fields[0]) or not 1 <= int(fields[0]) <= AP_MAX_WIDTH:
        return f"the width W must be a whole number from 1 to {AP_MAX_WIDTH}"
    if len(fields) > 1 and not re.fullmatch(r"-?[0-9]+", fields[1]):
        return "the integer bits I must be a whole number"
    if len(fields) > 2 and fields[2] not in _AP_ROUNDING:
        return f"the rounding mode Q must be one of {', '.join(_AP_ROUNDING)}"
    if len(fields) > 3 and fields[3] not in _AP_SATURATION:
        return f"the saturation mode O must be one of {', '.join(_AP_SATURATION)}"
    if len(fields) > 4 and not re.fullmatch(r"[0-9]+", fields[4]):
        return "the saturation bits N must be a whole number"
    return None


REUSE_FACTOR_MAX = 2**32 - 1
"""The generated C++ holds a ReuseFactor in an `unsigned` constant."""


class HlsLayerConfig(Strict):
    """Per-layer overrides. A precision here replaces the exact type the converter derives,
    so the design may no longer match the fixed-point reference word for word."""

    reuse_factor: int | None = Field(default=None, ge=1, le=REUSE_FACTOR_MAX)
    # This layer's own sample rate for its fold (pipeline.fixed.folding.fold_for_rate).
    target_sample_rate_hz: float | None = Field(default=None, gt=0)
    # e.g. ap_fixed<12,4,AP_RND_CONV,AP_SAT>
    result: str | None = None
    accum: str | None = None

    @field_validator("result", "accum")
    @classmethod
    def _hls_type(cls, text: str | None) -> str | None:
        if text is not None and (problem := _ap_type_problem(text)) is not None:
            raise FieldProblem("", problem, text)
        return text


CLOCK_PERIOD_RANGE_NS = (0.5, 1000.0)
"""2 GHz, beyond any FPGA fabric clock, to 1 MHz, where a sample period at 48 kHz holds
only 20 clocks."""


class HlsConfig(Strict):
    """The generated Vitis/Vivado HLS project (and the RTL design, folded by the same rule,
    `pipeline.fixed.folding.layer_folds`). A layer's ReuseFactor is its passes: the clocks
    of product work per sample. By default each layer gets the fewest product units that
    keep up with `target_sample_rate_hz` at the clock; `reuse_factor` sets one ReuseFactor
    for every layer instead (1: a product unit per weight), and `layers.<name>` overrides
    either for one layer."""

    backend: Literal["Vitis", "Vivado"] = "Vitis"
    part: str = "xc7z020clg400-1"  # Zynq-7020 (PYNQ-Z2, Zybo Z7-20)
    clock_period_ns: float = 10.0
    # The sample rate the folded designs (HLS, RTL) must keep up with at this clock: each
    # layer gets the fewest product lanes whose interval fits one sample period.
    target_sample_rate_hz: float = Field(default=192000.0, gt=0)
    # None: each layer's fold is chosen from target_sample_rate_hz at the clock.
    reuse_factor: int | None = Field(default=None, ge=1, le=REUSE_FACTOR_MAX)
    layers: dict[str, HlsLayerConfig] = Field(default_factory=dict)
    project_name: str = Field(default="myproject", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    testbench_samples: int = Field(default=48000, ge=1)
    # The input word of a model without an input quantiser (hls4ml's convention: W bits, I
    # of them integer bits counting the sign; ap_fixed<16,1> is [-1, 1) in steps of 2^-15).
    # It rounds half to even and saturates. A model's own input QActivation always wins.
    input_precision: str = "ap_fixed<16,1>"

    @field_validator("input_precision")
    @classmethod
    def _input_word(cls, value: str) -> str:
        parse_ap_fixed(value)
        return value

    @property
    def input_format(self) -> FixedFormat:
        """`input_precision` in the export's convention: fixed<W, I-1>, signed."""
        return parse_ap_fixed(self.input_precision)

    @field_validator("part")
    @classmethod
    def _part_name(cls, part: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", part):
            raise FieldProblem("", "an FPGA part name such as xc7z020clg400-1: letters, digits, "
                                "'_', '-' and '.' (it goes into the project's Tcl script)", part)
        return part

    @field_validator("clock_period_ns")
    @classmethod
    def _physical_clock(cls, period: float) -> float:
        low, high = CLOCK_PERIOD_RANGE_NS
        if not low <= period <= high:
            raise FieldProblem("", f"must be from {low:g} ns to {high:g} ns (a {1e3 / low:g} "
                                f"MHz to {1e3 / high:g} MHz clock)", period)
        return period


class RtlConfig(Strict):
    """The RTL design (pipeline/rtl): folded like the HLS design (`hls.clock_period_ns`,
    `hls.target_sample_rate_hz`, `hls.layers`), simulated with CXXRTL, synthesised with
    yosys and placed and routed with nextpnr-ecp5."""

    sim_processes: int = Field(default=2, ge=1, le=64)  # CXXRTL simulations side by side
    place_and_route: bool = True  # nextpnr-ecp5 in the synth stage (Fmax, placed cells)
    pnr_seed: int = Field(default=1, ge=1, le=2**31 - 1)
