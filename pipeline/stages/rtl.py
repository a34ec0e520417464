"""rtl: one exported model as Verilog (Amaranth HDL), checked by cycle-accurate simulation.

Reads `exports/<model>/weights.json` and the test split; writes `rtl_projects/<model>/`
(the Verilog with its weights, design.json, yosys scripts, README). The project's Verilog is
compiled with yosys's CXXRTL and g++ and streams the validate signals (every test segment
and the sweep, each from a start-of-stream flag, several back to back per process); every
output word is compared with the fixed-point reference. Each layer's interval is measured
alone in Amaranth's simulator. Figures go to `metrics/rtl/sim/<model>.json`.
"""


from pipeline.config import load_params
from pipeline.data import synth
from pipeline.data.dataset import load_split
from pipeline.errors import PipelineError, run_stage
from pipeline.outputs import check_file_output, check_output, write_json_atomic
from pipeline.rtl import flow
from pipeline.rtl.ir import read_weights
from pipeline.stages.common import model_arguments


def main() -> None:
    args = model_arguments(__doc__, {"exports": "exports", "data": "data/dataset"},
                           {"out": "rtl_projects/{model}",
                            "metrics": "metrics/rtl/sim/{model}.json"})
    out, metrics_path = args.out, args.metrics
    weights = args.exports / args.model / "weights.json"
    params = load_params(args.params)
    check_output(out, "rtl")
    check_file_output(metrics_path)
    if not weights.exists():
        raise PipelineError(f"{weights}: no exported weights (run the export stage first)")

    exported = read_weights(weights)
    project, generate_seconds = flow.generate(exported, params.hls, out)
    test = load_split(args.data, "test")
    sweep = synth.sweep(params.validation.sweep, params.data.sample_rate,
                        params.data.synth.band_limit)
    metrics = {**flow.design_figures(project),
               **flow.verify(project, exported, [*test.inputs, sweep.inputs],
                             params.rtl.sim_processes),
               **flow.layer_intervals(flow.design_plan(exported, params.hls)),
               "rtl_generate_seconds": generate_seconds}
    write_json_atomic(metrics_path, metrics)
    print(f"rtl {args.model}: {out} written; CXXRTL simulation of {metrics['rtl_samples']} "
          f"samples: {metrics['rtl_vs_reference_mismatches']} words differ from the "
          f"reference; {metrics['cycles_per_sample']} cycles per sample; "
          f"{metrics['rtl_sim_cycles_per_second']:,.0f} cycles/s")


if __name__ == "__main__":
    run_stage(main)
