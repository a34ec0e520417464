"""hls: one exported model as a streaming Vitis HLS project, checked by C simulation.

Reads `exports/<model>/weights.json` (no TensorFlow needed) and the test split. Writes the
project (firmware from hls4ml with our cached-convolution layer, testbench, tb_data from the
fixed-point reference, build_prj.tcl, csim.sh, README) to a staging folder, copies that
elsewhere and runs its csim.sh there, and renames it to `hls_projects/<model>/` only if
every output word equals the reference's: a project that fails its own testbench is never
left behind. `metrics/hls/<model>.json` holds the testbench's sample count and differing
output words, and the analytic cost estimate (`pipeline/fixed/cost.py`); the report stage
logs them to the design's MLflow run.
"""


from pipeline.config import load_params
from pipeline.data.dataset import load_split
from pipeline.errors import PipelineError, run_stage
from pipeline.fixed.cost import estimate
from pipeline.fixed.weights import read_weights
from pipeline.hls.project import OUTPUT_KIND, spread_segments, write_project_files
from pipeline.hls.simulation import run_csim_elsewhere
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "hls"


class SimulationMismatch(PipelineError):
    """The project's C simulation differs from the fixed-point reference."""


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
    with staged_directory(out, OUTPUT_KIND) as staging:
        write_project_files(exported, staging, config, segments)
        result = run_csim_elsewhere(staging, name=out)
        if result.mismatches:
            words = result.samples * exported.layers[-1].out_channels
            raise SimulationMismatch(f"{out}: C simulation: {result.mismatches} of {words} output "
                                     f"words differ from the fixed-point reference")
        metrics = {"testbench_samples": result.samples,
                   "testbench_mismatches": result.mismatches,
                   **estimate(exported, config).summary()}
    write_json_atomic(metrics_path, metrics)
    print(f"hls {args.model}: {out} written; csim.sh in a moved copy: {result.samples} "
          f"samples, {result.mismatches} output words differ from the fixed-point reference")


if __name__ == "__main__":
    run_stage(main)
