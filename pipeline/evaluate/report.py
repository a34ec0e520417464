"""The comparison report: per model, its quality, what the HLS cost model estimates, what the
RTL synthesises to, and the original ECP5 design's published figures beside it.

`reports/comparison.md` holds one table with a column per model (and one per original design
of the same name), the agreement of the implementations, and the trade-off figure. The same
table is the MLflow experiment's description. Figures the HLS design may or may not estimate
(`est_lut`, `est_ff`, `est_ii_cycles`) and the placed ECP5 figures (when place and route is
off) show as '-' when absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.config import ModelConfig, Params
from pipeline.fixed.folding import passes_label
from pipeline.rtl.figures import ECP5_CAPACITY, ORIGINAL_ECP5, ORIGINAL_SAMPLE_RATE_HZ
from pipeline.tracking.vocabulary import is_restart_metric

VALIDATE_FIGURES = ("esr_corners", "esr_edges", "keras_esr_corners", "hls_vs_keras_mse",
                    "hls_vs_keras_lsd", "hls_vs_reference_mismatches", "samples", "parameters",
                    "est_dsp", "est_shift_adds", "est_bram18", "est_latency_cycles",
                    "est_max_sample_rate_hz")
"""What the report needs from `metrics/<model>.json` (the validate stage, with the hls
stage's estimates)."""

SYNTH_FIGURES = ("ecp5_mult18", "ecp5_lut4", "ecp5_ff", "ecp5_dp16kd", "xc7_dsp48", "xc7_lut",
                 "xc7_ff", "cycles_per_sample", "max_sample_rate_hz",
                 "rtl_vs_reference_mismatches", "rtl_samples")
"""What it needs from `metrics/rtl/<model>.json` (the rtl and synth stages)."""

TARGETS = {"fixed": 0.01, "po2": 0.02}
"""The quality targets: test ESR over corners, per scheme."""

NAM_GRADES = ((0.01, "great"), (0.035, "not bad"), (0.1, "might sound ok"))
"""Neural Amp Modeler's grades of an ESR: below each bound."""


@dataclass(frozen=True)
class Design:
    """One model config and its figures: the validate stage's (with the hls stage's
    estimates) and the synth stage's (with the rtl stage's)."""

    model: str
    config: ModelConfig
    bits: str
    figures: dict[str, float | list[float]]

    @property
    def target(self) -> float:
        return TARGETS["po2" if self.config.scheme == "po2" else "fixed"]

    @property
    def lut(self) -> float:
        """ECP5 logic as the original design published it: placed TRELLIS_COMB when place
        and route ran, else yosys's LUT4s."""
        return self.figures.get("ecp5_trellis_comb", self.figures["ecp5_lut4"])


def grade(esr: float) -> str:
    """Neural Amp Modeler's word for an ESR."""
    return next((name for bound, name in NAM_GRADES if esr < bound), "poor")


def _number(key: str, digits: int = 0, scale: float = 1.0, unit: str = ""
            ) -> Callable[[Design], str]:
    def cell(design: Design) -> str:
        value = design.figures.get(key)
        if value is None:
            return "-"
        return f"{value * scale:,.{digits}f}{unit}"
    return cell


def _of(key: str, capacity: int) -> Callable[[Design], str]:
    def cell(design: Design) -> str:
        value = design.figures.get(key)
        return "-" if value is None else f"{value:,.0f} of {capacity:,}"
    return cell


def _esr(key: str) -> Callable[[Design], str]:
    def cell(design: Design) -> str:
        value = design.figures[key]
        return f"{value:.4f} ({grade(value)})"
    return cell


def _spread(design: Design) -> str:
    f = design.figures
    restarts = sum(1 for key in f if is_restart_metric(key))
    return (f"{f['esr_corners_median']:.4f} ({f['esr_corners_min']:.4f} to "
            f"{f['esr_corners_max']:.4f}, {restarts} restart{'s' if restarts != 1 else ''})")


def _float_twin(design: Design) -> str:
    value = design.figures.get("float_esr_corners")
    if value is None:
        return "- (train.float_twin: false)"
    return f"{value:.4f} (quantised/float {design.figures['keras_esr_corners'] / value:.2f})"


def _quality_target(design: Design) -> str:
    value = design.figures["esr_corners"]
    verdict = "met" if value <= design.target else "NOT met"
    return f"<= {design.target:g}: {verdict}"


def _fmax(design: Design) -> str:
    fmax = design.figures.get("ecp5_fmax_mhz")
    if fmax is None:
        return "- (not placed)"
    clock = design.figures.get("clock_hz")
    met = "" if clock is None else (" (meets" if fmax * 1e6 >= clock else " (misses")
    return f"{fmax:.1f} MHz{met}{'' if clock is None else f' {clock / 1e6:g} MHz)'}"


ROWS: list[tuple[str, Callable[[Design], str]]] = [
    ("scheme", lambda d: d.config.scheme),
    ("weight bits", lambda d: d.bits),
    ("parameters", _number("parameters")),
    ("**quality**: ESR corners, test split (NAM grade)", _esr("esr_corners")),
    ("quality target", _quality_target),
    ("ESR edges", _esr("esr_edges")),
    ("QKeras ESR corners", lambda d: f"{d.figures['keras_esr_corners']:.4f}"),
    ("QKeras ESR corners of every restart: median (range)", _spread),
    ("float twin ESR corners (QKeras / float)", _float_twin),
    ("**HLS design**: ReuseFactor per layer (its passes)",
     lambda d: passes_label(d.figures["reuse_factors"])),
    ("est. DSP", _number("est_dsp")),
    ("est. LUT", _number("est_lut")),
    ("est. FF", _number("est_ff")),
    ("est. po2 shift-adds", _number("est_shift_adds")),
    ("est. BRAM18", _number("est_bram18")),
    ("est. cycles per sample (II)", _number("est_ii_cycles")),
    ("est. max sample rate", _number("est_max_sample_rate_hz", 1, 1e-3, " kHz")),
    ("**RTL on ECP5** (LFE5U-85F): MULT18X18D", _of("ecp5_mult18",
                                                    ECP5_CAPACITY["ecp5_mult18"])),
    ("LUT4 (TRELLIS_COMB after place and route)", _of("ecp5_trellis_comb",
                                                      ECP5_CAPACITY["ecp5_lut4"])),
    ("LUT4 (yosys)", _of("ecp5_lut4", ECP5_CAPACITY["ecp5_lut4"])),
    ("FF", _number("ecp5_ff")),
    ("DP16KD", _of("ecp5_dp16kd", ECP5_CAPACITY["ecp5_dp16kd"])),
    ("Fmax (nextpnr)", _fmax),
    ("**RTL on 7-series** (yosys synth_xilinx): DSP48E1", _number("xc7_dsp48")),
    ("xc7 LUT", _number("xc7_lut")),
    ("xc7 FF", _number("xc7_ff")),
    ("cycles per sample", _number("cycles_per_sample")),
    ("max sample rate", _number("max_sample_rate_hz", 1, 1e-3, " kHz")),
]
"""The table's rows, one figure each; a column per model."""


def _original_column(model: str) -> dict[str, str] | None:
    """The original ECP5 design's published figures, by row label, for a model of the same
    name (quality: none was published)."""
    original = ORIGINAL_ECP5.get(model)
    if original is None:
        return None
    mult, lut = ECP5_CAPACITY["ecp5_mult18"], ECP5_CAPACITY["ecp5_lut4"]
    percent = 100 * original["ecp5_lut4"] / lut
    timing = ("met at 192 kHz, idle 70% of each sample period" if original["timing_met"]
              else "never met timing")
    return {
        "scheme": "po2" if model == "po2" else "fixed",
        "**quality**: ESR corners, test split (NAM grade)": "not published",
        "**RTL on ECP5** (LFE5U-85F): MULT18X18D": f"{original['ecp5_mult18']:,} of {mult:,}",
        "LUT4 (TRELLIS_COMB after place and route)":
            f"{original['ecp5_lut4']:,} of {lut:,} ({math.floor(percent)}%)",
        "FF": f"{original['ecp5_ff']:,}",
        "DP16KD": (f"{original['ecp5_dp16kd']:,} of {ECP5_CAPACITY['ecp5_dp16kd']:,}"
                   if "ecp5_dp16kd" in original else "-"),
        "Fmax (nextpnr)": timing,
        "max sample rate": (f"{ORIGINAL_SAMPLE_RATE_HZ / 1e3:g} kHz" if original["timing_met"]
                            else "-"),
    }


def table(designs: list[Design]) -> list[str]:
    """One markdown table: a row per figure, a column per model and, beside a model of the
    same name, the original design's."""
    columns: list[tuple[str, Callable[[str, Callable[[Design], str]], str]]] = []
    for design in designs:
        columns.append((f"`{design.model}`",
                        lambda label, cell, d=design: cell(d)))
        original = _original_column(design.model)
        if original is not None:
            columns.append((f"original {design.model} (published)",
                            lambda label, cell, o=original: o.get(label, "-")))
    lines = ["| figure | " + " | ".join(name for name, _ in columns) + " |",
             "|" + " --- |" * (len(columns) + 1)]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(fill(label, cell) for _, fill in columns)
                     + " |")
    return lines


def _agreement(designs: list[Design]) -> list[str]:
    lines = ["| model | HLS vs QKeras MSE | LSD | HLS words differing from the reference | "
             "RTL words differing from the reference |", "|" + " --- |" * 5]
    for d in designs:
        f = d.figures
        lines.append(f"| `{d.model}` | {f['hls_vs_keras_mse']:.2e} | "
                     f"{f['hls_vs_keras_lsd']:.4f} | {f['hls_vs_reference_mismatches']:,.0f} "
                     f"of {f['samples']:,.0f} | {f['rtl_vs_reference_mismatches']:,.0f} of "
                     f"{f['rtl_samples']:,.0f} |")
    return lines


def markdown(designs: list[Design], params: Params, plot_name: str) -> str:
    """The report's text."""
    validation, hls = params.validation, params.hls
    text = [
        "# Quantisation schemes compared",
        "",
        "Written by the report stage from `metrics/<model>.json` (validate, with the hls "
        "stage's estimates) and `metrics/rtl/<model>.json` (rtl and synth). Quality is the "
        "ESR of the design's output (the HLS C simulation, which the RTL equals word for "
        "word) against the target on the test split, mean of the four corner shapes; Neural "
        "Amp Modeler grades an ESR below 0.01 great, below 0.035 not bad, below 0.1 might "
        f"sound ok. The HLS estimate is the cost model's for {hls.part} at "
        f"{1000 / hls.clock_period_ns:g} MHz (docs/fpga-cost.md); the RTL figures are yosys's "
        "and nextpnr-ecp5's for the same folded datapath at the same clock, folded to "
        f"{hls.target_sample_rate_hz / 1e3:g} kHz (docs/rtl.md). The original ECP5 design "
        "(Mat Kelcey's, on an LFE5U-85F behind a 192 kHz codec) published its utilisation, "
        "not its accuracy.",
        "",
        *table(designs),
        "",
        f"![quality against multipliers and logic]({plot_name})",
        "",
        "## The implementations agree",
        "",
        "MSE and log-spectral distance (LSD) compare the HLS C simulation with the QKeras "
        f"model over the test split and a {validation.sweep.seconds:g} s sweep (LSD: Hann "
        f"frames of {validation.stft_n_fft} samples every {validation.stft_hop}, power floored "
        f"{validation.lsd_floor_above_rounding_noise_db:g} dB above the output word's rounding "
        "noise; docs/validation.md).",
        "",
        *_agreement(designs),
        "",
    ]
    return "\n".join(text)
