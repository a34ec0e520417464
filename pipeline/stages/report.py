"""report: every model config's validation figures in one table and one trade-off plot.

Reads `metrics/<model>.json` for each model in params.yaml's `models` and its config in
`configs/models/`; writes `reports/comparison.md` and `reports/quality_vs_multipliers.png`.
"""

import argparse
import json
from pathlib import Path

from pipeline import plots
from pipeline.config import load_configs
from pipeline.errors import PipelineError, run_stage
from pipeline.outputs import staged_directory
from pipeline.report import Row, markdown

PLOT = "quality_vs_multipliers.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--models-dir", default="configs/models", type=Path)
    parser.add_argument("--metrics", default="metrics", type=Path)
    parser.add_argument("--out", default="reports", type=Path)
    args = parser.parse_args()

    params, configs = load_configs(args.params, args.models_dir)
    rows = []
    for model, config in zip(params.models, configs, strict=True):
        path = args.metrics / f"{model}.json"
        if not path.exists():
            raise PipelineError(f"{path}: missing (run the validate stage for {model} first)")
        reuse = params.hls.reuse_factor
        rows.append(Row(model, config, reuse, json.loads(path.read_text())))
    with staged_directory(args.out) as staging:
        plots.quality_against_multipliers(staging / PLOT, [r.plot_point() for r in rows])
        (staging / "comparison.md").write_text(markdown(rows, params, PLOT))
    print(f"report: {len(rows)} models compared in {args.out / 'comparison.md'}")


if __name__ == "__main__":
    run_stage(main)
