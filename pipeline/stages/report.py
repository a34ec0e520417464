"""report: every model's design compared, in one table, one trade-off figure and MLflow.

Reads, per model in params.yaml's `models`: its config in `configs/models/`,
`metrics/<model>.json` (validate, with the hls stage's estimates), `metrics/rtl/<model>.json`
(rtl and synth), `metrics/train/<model>.json` (the restarts' spread and the float twin),
`exports/<model>/weights.json`, and the plots and audio excerpts of the validate stage.
Writes `reports/` (`comparison.md`, the trade-off figure, and the tables `dvc plots` draws
both schemes from) and `metrics.json`, the few figures `dvc metrics show`
and `dvc exp show` print; logs one MLflow design run per model, the experiment's
description (the comparison table) and its saved views (`pipeline.tracking.views`).
"""

import argparse
from pathlib import Path

from pipeline.config import Params, load_configs
from pipeline.data.shapes import CORNERS, EDGES
from pipeline.errors import run_stage
from pipeline.evaluate import plots
from pipeline.evaluate.report import NAM_GRADES, TARGETS, Design, markdown
from pipeline.fixed.weights import read_weights
from pipeline.inputs import InputError, read_figures
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.rtl.figures import read_rtl_metrics
from pipeline.stages.common import project_root
from pipeline.tracking import experiment_id, views, vocabulary
from pipeline.tracking.design import DesignFiles, log_design
from pipeline.tracking.record import weight_bits

STAGE = "report"
PLOT = "quality_vs_cost.png"
TRADE_OFF, SHAPES = "trade_off.csv", "esr_by_shape.csv"
SHAPE_NAMES = (*CORNERS, *(f"{a}_{b}" for a, b in EDGES))


def checked(design: Design, path: Path, params: Params) -> Design:
    """`design`, once every figure the report, its plot and tables use is found in its
    files."""
    try:
        markdown([design], params, PLOT)
        point(design)
        for shape in SHAPE_NAMES:
            design.figures[f"esr_{shape}"]
    except KeyError as missing:
        raise InputError(f"{path}: no figure {missing}; expected the figures the train, "
                         f"validate, rtl and synth stages write (run them again for "
                         f"{design.model})") from None
    return design


def point(design: Design) -> dict:
    return {"model": design.model, "scheme": design.config.scheme,
            "esr_corners": design.figures["esr_corners"],
            "multipliers": design.figures["ecp5_mult18"], "logic": design.lut}


def write_tables(staging: Path, designs: list[Design]) -> None:
    """The tables `dvc plots` draws from: a row per model (the trade-off), and a row per
    shape with a column per model (per-shape ESR, both schemes in one figure; `index` is its
    x axis, as DVC's line template wants a number)."""
    keys = ("esr_corners", "esr_edges", "ecp5_mult18", "logic")
    rows = [",".join(("model", *keys))]
    for design in designs:
        values = {**design.figures, "logic": design.lut}
        rows.append(",".join((design.model, *(repr(float(values[k])) for k in keys))))
    (staging / TRADE_OFF).write_text("\n".join(rows) + "\n")
    rows = [",".join(("index", "shape", *(d.model for d in designs)))]
    rows += [",".join((str(index), shape,
                       *(repr(float(d.figures[f"esr_{shape}"])) for d in designs)))
             for index, shape in enumerate(SHAPE_NAMES)]
    (staging / SHAPES).write_text("\n".join(rows) + "\n")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path)
    for flag, default in (("models-dir", "configs/models"), ("metrics", "metrics"),
                          ("models", "models"), ("exports", "exports"), ("plots", "plots"),
                          ("audio", "audio"), ("out", "reports"), ("summary", "metrics.json")):
        parser.add_argument(f"--{flag}", default=default, type=Path)
    parser.add_argument("--root", default=project_root(), type=Path,
                        help="project root (MLflow store); default: DVC_ROOT, else .")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    params, configs = load_configs(args.params, args.models_dir)
    check_output(args.out, STAGE)
    check_file_output(args.summary)
    designs, rtl_figures = [], {}
    for model, config in zip(params.models, configs, strict=True):
        path = args.metrics / f"{model}.json"
        rtl_figures[model] = read_rtl_metrics(model, args.metrics / "rtl")
        trained = read_figures(args.metrics / "train" / f"{model}.json", "train")
        figures = {**read_figures(path, "validate"), **rtl_figures[model],
                   **{key: value for key, value in trained.items()
                      if vocabulary.is_spread_metric(key)}}
        designs.append(checked(Design(model, config, weight_bits(config), figures), path,
                               params))
    text = markdown(designs, params, PLOT)
    with staged_directory(args.out, STAGE) as staging:
        plots.quality_against_cost(staging / PLOT, [point(d) for d in designs], TARGETS,
                                   NAM_GRADES)
        write_tables(staging, designs)
        (staging / "comparison.md").write_text(text)
    write_json_atomic(args.summary, {d.model: {key: d.figures[key]
                                               for key in vocabulary.SUMMARY}
                                     for d in designs})

    experiment = params.tracking.experiment
    for design in designs:
        model = design.model
        artifacts = (*sorted((args.plots / model).glob("*.png")),
                     *sorted((args.audio / model).glob("*.wav")), args.out / PLOT,
                     args.out / "comparison.md")
        files = DesignFiles(args.models / model / "model.h5", tuple(artifacts))
        exported = read_weights(args.exports / model / "weights.json")
        log_design(args.root, experiment, model, design.config, exported, params,
                   design.figures, rtl_figures[model], files)
    found_in = experiment_id(args.root, experiment)
    views.describe(found_in, text)
    views.save_views(found_in)
    print(f"report: {len(designs)} models compared in {args.out / 'comparison.md'}; "
          f"MLflow: {views.runs_url('http://127.0.0.1:5000', found_in)}")


if __name__ == "__main__":
    run_stage(main)
