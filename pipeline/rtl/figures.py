"""The RTL figures for the report and MLflow: `metrics/rtl/<model>.json` (the rtl and synth
stages), and the original ECP5 design's published utilisation beside them."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import PipelineError

ORIGINAL_ECP5 = {
    "fixed16": {"ecp5_mult18": 134, "ecp5_lut4": 44_647, "ecp5_ff": 21_081,
                "ecp5_dp16kd": 24, "ecp5_trellis_ramw": 192, "timing_met": True},
    "po2": {"ecp5_mult18": 70, "ecp5_lut4": 85_053, "ecp5_ff": 37_356,
            "timing_met": False},
}
"""The original hand-written design on an LFE5U-85F at 192 kHz (yosys + nextpnr), as its
author published it: LUT4 is nextpnr's TRELLIS_COMB; the 16-filter design idles 70% of each
sample period; the po2 design needed 101% of the LUTs and never met timing."""

ECP5_CAPACITY = {"ecp5_mult18": 156, "ecp5_lut4": 83_640, "ecp5_dp16kd": 208}
"""The LFE5U-85F's resources: MULT18X18D multipliers, LUT4s, DP16KD block RAMs."""

ORIGINAL_SAMPLE_RATE_HZ = 192_000
"""The original design's sample rate (the eurorack-pmod codec)."""

SUMMARY_KEYS = ("rtl_vs_reference_mismatches", "rtl_samples", "cycles_per_sample",
                "max_sample_rate_hz", "rtl_multipliers", "ecp5_mult18", "ecp5_lut4",
                "ecp5_trellis_comb", "ecp5_ff", "ecp5_dp16kd", "ecp5_fmax_mhz",
                "ecp5_timing_met", "xc7_dsp48", "xc7_lut", "xc7_ff", "xc7_bram18")


def read_rtl_metrics(model: str, metrics_dir: Path = Path("metrics/rtl")) -> dict:
    """A model's figures from the synth stage (which include the rtl stage's)."""
    path = Path(metrics_dir) / f"{model}.json"
    if not path.exists():
        raise PipelineError(f"{path}: missing (run the rtl and synth stages first)")
    return json.loads(path.read_text())


def summary(metrics: dict) -> dict[str, float]:
    """The headline figures as floats, for MLflow (`rtl_*`, `ecp5_*`, `xc7_*`)."""
    return {key: float(metrics[key]) for key in SUMMARY_KEYS if key in metrics}


def comparison_rows(metrics_by_model: dict[str, dict]) -> list[list[str]]:
    """Table rows: each model's ECP5 figures after place and route, and the original
    design's beside the model of the same name."""
    rows = []
    for model, metrics in metrics_by_model.items():
        lut = metrics.get("ecp5_trellis_comb", metrics["ecp5_lut4"])
        fmax = metrics.get("ecp5_fmax_mhz")
        rows.append([f"{model} (this design)", f"{metrics['ecp5_mult18']:,}", f"{lut:,}",
                     f"{metrics['ecp5_ff']:,}", f"{metrics['ecp5_dp16kd']:,}",
                     "-" if fmax is None else f"{fmax:.1f} MHz",
                     f"{metrics['cycles_per_sample']:,}"])
        original = ORIGINAL_ECP5.get(model)
        if original:
            rows.append([f"{model} (original, published)", f"{original['ecp5_mult18']:,}",
                         f"{original['ecp5_lut4']:,}", f"{original['ecp5_ff']:,}",
                         str(original.get("ecp5_dp16kd", "-")),
                         "met" if original["timing_met"] else "not met", "-"])
    return rows


def comparison_markdown(metrics_by_model: dict[str, dict]) -> str:
    header = ["design", "MULT18X18D", "LUT4 (TRELLIS_COMB)", "FF", "DP16KD", "timing",
              "cycles/sample"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in comparison_rows(metrics_by_model)]
    return "\n".join(lines) + "\n"
