"""report: every model config's validation figures in one table and one trade-off plot.

Reads `metrics/<model>.json` for each model in params.yaml's `models` and its config in
`configs/models/`; writes `reports/comparison.md` and `reports/quality_vs_multipliers.png`.
"""

import argparse
from pathlib import Path

from pipeline.config import Params, load_configs
from pipeline.errors import run_stage
from pipeline.evaluate import plots
from pipeline.evaluate.report import Row, markdown
from pipeline.inputs import InputError, read_figures
from pipeline.outputs import check_output, staged_directory

STAGE = "report"
PLOT = "quality_vs_multipliers.png"


def checked_row(row: Row, path: Path, params: Params) -> Row:
    """`row`, once every figure the tables and the plot use is found in its metrics file."""
    try:
        row.plot_point()
        markdown([row], params, PLOT)
    except KeyError as missing:
        raise InputError(f"{path}: no figure {missing}; expected the figures the validate "
                         f"stage writes (run it again for {row.model})") from None
    return row


def reuse_label(figures: dict, path: Path) -> str:
    """Each layer's ReuseFactor (its fold's passes) as `192/512/64`."""
    reuse = figures.get("reuse_factors")
    if not isinstance(reuse, list):
        raise InputError(f"{path}: no figure 'reuse_factors' (a list, one per layer); expected "
                         f"the figures the validate stage writes (run it again)")
    return "/".join(f"{value:g}" for value in reuse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--models-dir", default="configs/models", type=Path)
    parser.add_argument("--metrics", default="metrics", type=Path)
    parser.add_argument("--out", default="reports", type=Path)
    args = parser.parse_args()
    params, configs = load_configs(args.params, args.models_dir)
    check_output(args.out, STAGE)
    rows = []
    for model, config in zip(params.models, configs, strict=True):
        path = args.metrics / f"{model}.json"
        figures = read_figures(path, "validate")
        rows.append(checked_row(Row(model, config, reuse_label(figures, path), figures), path,
                                params))
    with staged_directory(args.out, STAGE) as staging:
        plots.quality_against_multipliers(staging / PLOT, [r.plot_point() for r in rows])
        (staging / "comparison.md").write_text(markdown(rows, params, PLOT))
    print(f"report: {len(rows)} models compared in {args.out / 'comparison.md'}")


if __name__ == "__main__":
    run_stage(main)
