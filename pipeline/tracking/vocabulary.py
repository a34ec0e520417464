"""The names runs are compared by: one vocabulary of metric and param names for training runs
and design runs, so that one set of columns in the MLflow runs table compares every run.

A training run judges the QKeras model; a design run (one model with one set of hardware
settings) judges the design's output, the HLS C simulation, which the RTL matches word for
word. Both log their quality under the same names (`esr_corners`...), and both carry the same
model params (`scheme`, `bits`...). The "Names" table of docs/tracking.md is this module in
prose; `tests/test_views.py` checks that the two agree.
"""

from __future__ import annotations

import re

from pipeline.data.shapes import CORNERS, EDGES

QUALITY: dict[str, str] = {
    "esr_corners": "ESR on the test split, mean of the four corner shapes (the quality target: "
                   "fixed point <= 0.01, po2 <= 0.02)",
    "esr_edges": "ESR on the test split, mean of the four edge crossfades",
    **{f"esr_{shape}": f"ESR of the {shape} corner" for shape in CORNERS},
    **{f"esr_{a}_{b}": f"ESR of the {a}-{b} edge" for a, b in EDGES},
    "esr_heldout_freq": "ESR of the test segments in the frequency bands never trained on",
    "esr_trained_freq": "ESR of the other test segments",
    "esr": "ESR of every test segment together",
}
"""Quality on the test split, both run kinds: the QKeras model's output in a training run, the
design's output in a design run. ESR = sum((y - y_hat)^2) / sum(y^2): Neural Amp Modeler calls
a model great below 0.01, not bad below 0.035, and might-sound-ok below 0.1."""

SPREAD: dict[str, str] = {
    "restart_<r>_esr_corners": "test esr_corners of restart r's kept weights (QKeras)",
    "esr_corners_median": "median of the restarts' test esr_corners: a difference between "
                          "designs smaller than their range is no difference",
    "esr_corners_min": "lowest of the restarts' test esr_corners",
    "esr_corners_max": "highest of the restarts' test esr_corners",
    "float_esr_corners": "esr_corners of the float twin (the same convolutions in float32, "
                         "trained by the same recipe): what quantisation costs",
    "float_esr_edges": "esr_edges of the float twin",
}
"""Both run kinds: the training's spread over initialisations and the float twin, both from
the train stage's test-split figures (a design run repeats its training run's)."""

TRAINING: dict[str, str] = {
    "loss": "per epoch: training loss (masked MSE or ESR, plus L2) of the kept restart",
    "val_loss": "per epoch: validation MSE of the kept restart",
    "val_esr": "per epoch: validation ESR of the kept restart",
    "restart_<r>_val_esr": "per epoch: validation ESR of restart r",
    "best_val_esr": "validation ESR of the kept weights",
    "best_epoch": "epoch of the kept weights",
    "epochs_run": "epochs trained before early stopping",
    "chosen_restart": "the restart kept",
    "reference_saturations": "export: saturated words of the fixed-point reference, test split",
    "reference_overflows": "export: overflowed accumulators of the reference, test split",
    "reference_differing_words": "export: words in which QKeras (float32 sums) and the exact "
                                 "reference differ, over every layer",
    "reference_max_lsb": "export: the largest such difference, in LSBs of the layer's word",
}
"""Training runs only: the curves, the restart kept, and the export stage's check of the
fixed-point reference against QKeras."""

DESIGN: dict[str, str] = {
    "esr_sweep": "ESR over the 2 s validation sweep (a glide round the embedding's border)",
    "keras_esr_corners": "esr_corners of the QKeras model on the same signals",
    "keras_esr_edges": "esr_edges of the QKeras model on the same signals",
    "hls_vs_keras_mse": "MSE between the HLS C simulation and QKeras (test split and sweep)",
    "hls_vs_keras_lsd": "log-spectral distance between them (FastWave's LSD)",
    "hls_vs_reference_mismatches": "output words in which the HLS C simulation differs from "
                                   "the bit-exact fixed-point reference",
    "rtl_vs_reference_mismatches": "output words in which the RTL (CXXRTL) differs from it",
    "est_dsp": "HLS cost model: DSP slices",
    "est_lut": "HLS cost model: LUTs of the folded design",
    "est_ff": "HLS cost model: flip-flops",
    "est_shift_adds": "HLS cost model: po2 shift-adds (LUT logic, no DSP)",
    "est_bram18": "HLS cost model: BRAM18 blocks",
    "est_ii_cycles": "HLS cost model: clock cycles between samples (the slowest process)",
    "est_latency_cycles": "HLS cost model: clock cycles from a sample in to its output",
    "est_max_sample_rate_hz": "HLS cost model: highest sample rate at the clock",
    "ecp5_mult18": "synthesised for the ECP5 (yosys): MULT18X18D multipliers",
    "ecp5_lut4": "ECP5: LUT4s after yosys synthesis",
    "ecp5_trellis_comb": "ECP5: logic cells after nextpnr place and route (TRELLIS_COMB, the "
                         "figure the original design published as LUT4)",
    "ecp5_ff": "ECP5: flip-flops",
    "ecp5_dp16kd": "ECP5: DP16KD block RAMs",
    "ecp5_fmax_mhz": "ECP5: highest clock after place and route (nextpnr)",
    "ecp5_timing_met": "ECP5: 1 if the placed design meets the configured clock",
    "xc7_dsp48": "synthesised for the 7-series (yosys synth_xilinx): DSP48E1 slices",
    "xc7_lut": "7-series: LUTs",
    "xc7_ff": "7-series: flip-flops",
    "xc7_bram18": "7-series: BRAM18 blocks",
    "cycles_per_sample": "RTL: clock cycles between samples",
    "max_sample_rate_hz": "RTL: highest sample rate, at the ECP5's Fmax when placed",
    "rtl_seconds": "wall time of the rtl stage (Verilog, reference and CXXRTL simulation)",
    "synth_seconds": "wall time of the synth stage (yosys for both families, nextpnr)",
}
"""Design runs only: the design's agreement with QKeras and the reference, what it costs
(estimated by the HLS cost model, then synthesised from the RTL), and how long each stage
took; the run's duration is the sum of the two."""

PARAMS: dict[str, str] = {
    "scheme": "fixed, or po2 when any kernel is power-of-two quantised",
    "bits": "kernel widths: the model's, and a po2 layer's where it differs ('16, po2 4')",
    "activation_bits": "ReLU activation width",
    "filters": "filters per layer",
    "dilations": "dilation per layer",
    "kernel_sizes": "kernel size per layer",
    "receptive_field": "samples of history an output sees",
    "parameters": "weights and biases",
    "multipliers": "non-zero fixed-point products per sample of the trained weights",
    "shift_adds": "non-zero po2 products (shifts) per sample",
}
"""Params of both run kinds. Training runs add `seed`, `data.*` and `train.*`; design runs add
the hardware settings below, `hls.*`, `rtl.*` and `validation.*`."""

DESIGN_PARAMS: dict[str, str] = {
    "part": "the 7-series part of the HLS project",
    "clock_mhz": "the design's clock",
    "target_sample_rate_hz": "the sample rate the folded designs keep up with",
    "reuse_factors": "the folding built: passes (ReuseFactor) per layer, as 192/512/64",
}

TAGS: dict[str, str] = {
    "kind": "training or design",
    "model": "the model config's name",
    "model_sha256": "sha256 of models/<model>/model.h5 (how later stages find the training run)",
    "training_run_id": "design runs: the training run of the model",
    "design_key": "design runs: sha256 of everything the run was made from (a repeated report "
                  "logs no duplicate)",
    "dvc_experiment": "the DVC experiment (workspace outside `dvc exp run`)",
    "git_commit": "HEAD, suffixed -dirty when tracked files other than dvc.lock and DVC "
                  "outputs differ",
    "dataset_dvc_md5": "training runs: the dataset's DVC hash",
    "study": "design runs of the frontier search (`make explore`): the Optuna study",
    "trial": "the study's trial number",
    "on_frontier": "true for a trial on the study's Pareto frontier, else false",
}

SUMMARY = ("esr_corners", "ecp5_mult18", "ecp5_lut4")
"""The figures of `metrics.json`, DVC's metrics: per model, the quality and what the design
costs in multipliers and logic, so `dvc metrics show` and `dvc exp show` fit a terminal."""


def metric_names(kind: str) -> set[str]:
    """The metrics a run of `kind` ("training" or "design") may log (restart curves aside)."""
    spread = set(SPREAD) - {"restart_<r>_esr_corners"}
    if kind == "training":
        return set(QUALITY) | spread | set(TRAINING) - {"restart_<r>_val_esr"}
    return set(QUALITY) | spread | set(DESIGN)


def is_restart_metric(name: str) -> bool:
    """`restart_<r>_esr_corners`, logged by both run kinds beside the names above."""
    return re.fullmatch(r"restart_\d+_esr_corners", name) is not None


def is_spread_metric(name: str) -> bool:
    """A train stage figure of the spread or the float twin (`SPREAD`), which a design run
    repeats."""
    return name in SPREAD or is_restart_metric(name)
