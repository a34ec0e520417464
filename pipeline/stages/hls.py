"""hls: one exported model as a streaming Vitis HLS project, checked by C simulation.

Reads `exports/<model>/weights.json` (no TensorFlow needed) and the test split. Writes the
project (firmware from hls4ml with our cached-convolution layer, testbench, tb_data from the
fixed-point reference, build_prj.tcl, csim.sh, README) to a staging folder, copies that
elsewhere and runs its csim.sh there, and renames it to `hls_projects/<model>/` only if
every output word equals the reference's: a project that fails its own testbench is never
left behind. `metrics/hls/<model>.json` holds the testbench's sample count and differing
output words and start-of-stream flags, and the analytic cost estimate
(`pipeline/fixed/cost.py`) with each layer's ReuseFactor (`reuse_factors`, its fold's passes);
the report stage logs them to the design's MLflow run. The stage prints each layer's fold.
"""


from pipeline.config import load_params
from pipeline.data.dataset import load_split
from pipeline.errors import PipelineError, run_stage
from pipeline.fixed.cost import DesignCost, estimate
from pipeline.fixed.weights import read_weights
from pipeline.hls.project import OUTPUT_KIND, spread_segments, write_project_files
from pipeline.hls.simulation import run_csim_elsewhere
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "hls"


class SimulationMismatch(PipelineError):
    """The project's C simulation differs from the fixed-point reference."""


def fold_lines(cost: DesignCost) -> list[str]:
    """One line per layer: its product units, passes (ReuseFactor), interval and resources."""
    return [f"  {layer.name}: {layer.lanes} {'shifter' if layer.po2 else 'multiplier'}"
            f"{'s' if layer.lanes > 1 else ''} x {layer.passes} passes (ReuseFactor), interval "
            f"{layer.interval_cycles} cycles; est. {layer.dsp} DSP48E1, {layer.lut:,} LUT, "
            f"{layer.ff:,} FF, {layer.bram18} BRAM18" for layer in cost.layers]


def main() -> None:
    args = model_arguments(__doc__, {"exports": "exports", "data": "data/dataset"},
                           {"out": "hls_projects/{model}", "metrics": "metrics/hls/{model}.json"})
    out, metrics_path = args.out, args.metrics
    weights = args.exports / args.model / "weights.json"
    check_output(out, OUTPUT_KIND)
    check_file_output(metrics_path)
    if not weights.exists():
        raise PipelineError(f"{weights}: no exported weights (run the export stage first)")

    params = load_params(args.params)
    config = params.hls
    exported = read_weights(weights)
    segments = spread_segments(load_split(args.data, "test").inputs, config.testbench_samples)
    cost = estimate(exported, config)
    with staged_directory(out, OUTPUT_KIND) as staging:
        write_project_files(exported, staging, config, segments)
        result = run_csim_elsewhere(staging, name=out)
        if result.mismatches or result.flag_mismatches:
            words = result.samples * exported.layers[-1].out_channels
            raise SimulationMismatch(f"{out}: C simulation: {result.mismatches} of {words} output "
                                     f"words and {result.flag_mismatches} of {result.samples} "
                                     f"start-of-stream flags differ from the fixed-point "
                                     f"reference")
        metrics = {"testbench_samples": result.samples,
                   "testbench_mismatches": result.mismatches,
                   "testbench_flag_mismatches": result.flag_mismatches,
                   **cost.summary()}
    write_json_atomic(metrics_path, metrics)
    print(f"hls {args.model}: {out} written; csim.sh in a moved copy: {result.samples} "
          f"samples, {result.mismatches} output words and {result.flag_mismatches} "
          f"start-of-stream flags differ from the fixed-point reference")
    print("\n".join([f"hls {args.model}: folds at {1e3 / config.clock_period_ns:g} MHz "
                     f"(est. II {cost.ii_cycles} cycles, latency {cost.latency_cycles} cycles; "
                     f"{cost.dsp} DSP48E1, {cost.lut:,} LUT, {cost.ff:,} FF, {cost.bram18} "
                     f"BRAM18):", *fold_lines(cost)]))


if __name__ == "__main__":
    run_stage(main)
