"""hls: one exported model as a streaming Vitis HLS project, checked by C simulation.

Reads `exports/<model>/weights.json` (no TensorFlow needed) and the test split; writes
`hls_projects/<model>/` (firmware from hls4ml with our cached-convolution layer, testbench,
tb_data from the fixed-point reference, build_prj.tcl, csim.sh, README), then copies the
project elsewhere and runs its csim.sh there. `metrics/hls/<model>.json` holds the
testbench's sample count and differing output words, and the analytic cost estimate
(`pipeline/cost.py`); the same go to the model's MLflow run.
"""

import argparse
from pathlib import Path

import mlflow

from pipeline import export, tracking
from pipeline.config import load_params
from pipeline.cost import estimate
from pipeline.dataset import load_split
from pipeline.errors import PipelineError, run_stage
from pipeline.hls.project import spread_segments, write_project
from pipeline.hls.simulation import run_csim_elsewhere
from pipeline.outputs import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="model name: exports/<model>/weights.json")
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--exports", default="exports", type=Path)
    parser.add_argument("--models", default="models", type=Path)
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--out", default=None, type=Path, help="default: hls_projects/<model>")
    parser.add_argument("--metrics", default=None, type=Path,
                        help="default: metrics/hls/<model>.json")
    parser.add_argument("--root", default=tracking.project_root(), type=Path,
                        help="project root (MLflow store); default: DVC_ROOT, else .")
    args = parser.parse_args()
    out = args.out or Path("hls_projects") / args.model
    metrics_path = args.metrics or Path("metrics/hls") / f"{args.model}.json"
    weights = args.exports / args.model / "weights.json"
    if not weights.exists():
        raise PipelineError(f"{weights}: no exported weights (run the export stage first)")

    config = load_params(args.params).hls
    exported = export.read_weights(weights)
    segments = spread_segments(load_split(args.data, "test").inputs, config.testbench_samples)
    write_project(exported, out, config, segments)
    result = run_csim_elsewhere(out)
    metrics = {"testbench_samples": result.samples, "testbench_mismatches": result.mismatches,
               **estimate(exported, config).summary()}
    with tracking.resume_run(args.root, args.models / args.model / tracking.RUN_ID_FILE):
        mlflow.log_metrics({f"hls_{key}": float(value) for key, value in metrics.items()})
        mlflow.log_artifact(str(out / "README.md"), artifact_path="hls")
    write_json_atomic(metrics_path, metrics)
    print(f"hls {args.model}: {out} written; csim.sh in a moved copy: {result.samples} "
          f"samples, {result.mismatches} output words differ from the fixed-point reference")


if __name__ == "__main__":
    run_stage(main)
