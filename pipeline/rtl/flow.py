"""The RTL flow as the stages run it: plan and generate a model's project, check its compiled
simulation against the fixed-point reference word for word, measure every layer's
interval, and synthesise it. Each step returns its figures under the metric names."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.config import HlsConfig
from pipeline.rtl.amaranth_sim import layer_interval as measured_layer_interval
from pipeline.rtl.cxxrtl import CxxrtlSimulation
from pipeline.rtl.generate import Project, write_project
from pipeline.rtl.ir import ExportedModel, FixedPointReference, layer_folds
from pipeline.rtl.plan import DesignPlan, plan_design
from pipeline.rtl.synthesis import synthesize


def design_plan(model: ExportedModel, config: HlsConfig) -> DesignPlan:
    """The model folded as `config` asks (`pipeline.fixed.folding.layer_folds`)."""
    return plan_design(model, layer_folds(model, config), 1e9 / config.clock_period_ns)


def generate(model: ExportedModel, config: HlsConfig, out: Path) -> tuple[Project, float]:
    """The project folder `out`, and the seconds it took."""
    start = time.perf_counter()
    project = write_project(design_plan(model, config), FixedPointReference(model), out,
                            config.part)
    return project, time.perf_counter() - start


def layer_intervals(plan: DesignPlan) -> dict[str, int]:
    """Each layer's interval measured alone in Amaranth's simulator (fed at full rate, its
    output taken at once), beside the fold's promise."""
    figures = {}
    for layer in plan.layers:
        figures[f"{layer.name}_interval"] = measured_layer_interval(layer)
        figures[f"{layer.name}_fold_interval"] = layer.fold.interval
    return figures


def verify(project: Project, model: ExportedModel, signals: Sequence[np.ndarray],
           processes: int) -> dict:
    """Every signal (T, C_in floats) from a start of stream through the compiled CXXRTL
    model, several back to back per simulation process, so that every signal but the
    first of each process starts with a start-of-stream flag in mid-stream; each output
    word is compared with `FixedPointReference.run` of that signal alone."""
    reference = FixedPointReference(model)
    simulation = CxxrtlSimulation(project)
    words = [model.input_format.words(np.asarray(x, dtype=np.float32)) for x in signals]
    start = time.perf_counter()
    outputs, stats = simulation.run_segments(words, processes)
    sim_seconds = time.perf_counter() - start
    start = time.perf_counter()
    expected = [reference.run_words(x)[-1] for x in signals]
    reference_seconds = time.perf_counter() - start
    mismatches = sum(int(np.count_nonzero(got != want))
                     for got, want in zip(outputs, expected, strict=True))
    samples = sum(len(x) for x in signals)
    cycles = sum(run["cycles"] for run in stats)
    return {
        "rtl_samples": samples,
        "rtl_segments": len(signals),
        "rtl_vs_reference_mismatches": mismatches,
        "rtl_mid_stream_starts": len(signals) - len(stats),
        "cycles_per_sample": max(run["interval_max"] for run in stats),
        "rtl_latency_cycles": max(run["latency"] for run in stats),
        "rtl_sim_cycles": cycles,
        "rtl_sim_seconds": sim_seconds,
        "rtl_sim_processes": len(stats),
        "rtl_sim_cycles_per_second": cycles / sim_seconds,
        "rtl_sim_samples_per_second": samples / sim_seconds,
        "rtl_cxxrtl_yosys_seconds": simulation.yosys_seconds,
        "rtl_cxxrtl_gxx_seconds": simulation.gxx_seconds,
        "rtl_reference_seconds": reference_seconds,
    }


def design_figures(project: Project) -> dict:
    """The fold's figures: lanes, hard multipliers (lanes x multipliers per product: ECP5
    MULT18X18D, 7-series DSP48E1) and the interval the layers promise."""
    design = project.design
    return {
        "rtl_lanes": sum(layer["lanes"] for layer in design["layers"]),
        "rtl_multipliers": design["multipliers"],
        "rtl_xc7_multipliers": design["xc7_multipliers"],
        "rtl_design_interval": design["interval"],
        "clock_hz": design["clock_hz"],
        "max_sample_rate_hz_at_clock": design["clock_hz"] / design["interval"],
    }


def synthesis_figures(project: Project, reports: Path, place_and_route: bool,
                      seed: int, cycles_per_sample: int, xc7: bool = True) -> dict:
    """yosys (ECP5, and xc7 unless `xc7` is false) and nextpnr's figures, their seconds, and
    the sample rate the placed design reaches: Fmax over the measured cycles per sample."""
    result = synthesize(project, reports, place_and_route, seed, xc7)
    figures = {**result.metrics, **result.seconds}
    if "ecp5_fmax_mhz" in figures:
        figures["max_sample_rate_hz"] = figures["ecp5_fmax_mhz"] * 1e6 / cycles_per_sample
    return figures
