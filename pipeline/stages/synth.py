"""synth: a generated RTL project through the open synthesis tools.

yosys maps `rtl_projects/<model>/` to Lattice ECP5 (`synth_ecp5`) and Xilinx 7-series
(`synth_xilinx`) cells; nextpnr-ecp5 places and routes it on an LFE5U-85F at the configured
clock (unless `rtl.place_and_route` is false). Logs and reports go to
`synth_reports/<model>/`; `metrics/rtl/<model>.json` holds the rtl stage's figures and these.
"""


from pipeline.config import load_params
from pipeline.errors import PipelineError, run_stage
from pipeline.inputs import read_figures
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.rtl import flow
from pipeline.rtl.generate import Project
from pipeline.stages.common import model_arguments


def main() -> None:
    args = model_arguments(__doc__, {"projects": "rtl_projects"},
                           {"sim-metrics": "metrics/rtl/sim/{model}.json",
                            "reports": "synth_reports/{model}",
                            "metrics": "metrics/rtl/{model}.json"})
    project_dir = args.projects / args.model
    sim_metrics, reports, metrics_path = args.sim_metrics, args.reports, args.metrics
    config = load_params(args.params).rtl
    check_output(reports, "synth")
    check_file_output(metrics_path)
    if not project_dir.exists():
        raise PipelineError(f"{project_dir}: missing (run the rtl stage first)")
    simulated = read_figures(sim_metrics, "rtl")
    with staged_directory(reports, "synth") as staging:
        figures = flow.synthesis_figures(Project.read(project_dir), staging,
                                         config.place_and_route, config.pnr_seed,
                                         simulated["cycles_per_sample"])
    metrics = {**simulated, **figures}
    write_json_atomic(metrics_path, metrics)
    timing = (f"; Fmax {metrics['ecp5_fmax_mhz']:.1f} MHz (the clock is "
              f"{metrics['clock_hz'] / 1e6:g} MHz: timing "
              f"{'met' if metrics['ecp5_timing_met'] else 'NOT met'}), "
              f"{metrics['max_sample_rate_hz']:,.0f} samples/s"
              if "ecp5_fmax_mhz" in metrics else
              "" if metrics["ecp5_fits"] else "; larger than the LFE5U-85F: not placed")
    print(f"synth {args.model}: ECP5 {metrics['ecp5_mult18']} MULT18X18D, "
          f"{metrics['ecp5_lut4']} LUT4, {metrics['ecp5_ff']} FF, {metrics['ecp5_dp16kd']} "
          f"DP16KD; xc7 {metrics['xc7_dsp48']} DSP48E1, {metrics['xc7_lut']} LUT, "
          f"{metrics['xc7_ff']} FF{timing}")


if __name__ == "__main__":
    run_stage(main)
