"""The experiment's saved views in the MLflow UI: the runs table that answers "which scheme
gives the best quality for the hardware it costs" without picking columns.

MLflow 3 keeps a saved view as an experiment tag, `mlflow.sharedViewState.<id>`, whose value
is a JSON envelope (`name`, `createdAt`, `updatedAt`, `state`) around the view's state: the
runs filter and sort, the table's columns and the chart view's charts. The UI lists them under
"Views" and opens one from the URL `#/experiments/<id>/runs?viewStateShareKey=<id>`
(`runs_url`); `make mlflow-ui` prints that URL for the designs view. The experiment's
description (`mlflow.note.content`) is the report's comparison table.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from mlflow.tracking import MlflowClient

SHARED_VIEW_TAG = "mlflow.sharedViewState."
DESCRIPTION_TAG = "mlflow.note.content"
DESIGNS, TRAINING, FRONTIER = "designs", "training", "frontier"

DESIGN_COLUMNS = (
    ("params", "scheme"), ("params", "bits"),
    ("metrics", "esr_corners"), ("metrics", "esr_edges"),
    ("metrics", "esr_corners_min"), ("metrics", "esr_corners_max"),
    ("metrics", "float_esr_corners"),
    ("metrics", "est_dsp"), ("metrics", "ecp5_mult18"), ("metrics", "ecp5_lut4"),
    ("metrics", "xc7_lut"),
)
"""The designs view's columns after the run name, few enough for one screen: what the design
is, its quality (with the range over its training's restarts, and the float twin's, so a
difference smaller than the spread shows as one), and its cost estimated (HLS DSPs) and
synthesised (ECP5 multipliers and LUT4s, 7-series LUTs). The UI shows metrics before
params, each group alphabetically."""

TRAINING_COLUMNS = (
    ("params", "scheme"), ("params", "bits"), ("params", "filters"),
    ("params", "multipliers"), ("params", "shift_adds"),
    ("metrics", "esr_corners"), ("metrics", "esr_edges"), ("metrics", "esr_heldout_freq"),
    ("metrics", "float_esr_corners"), ("metrics", "best_val_esr"), ("metrics", "epochs_run"),
)

FRONTIER_COLUMNS = (
    ("tags", "study"), ("tags", "trial"), ("params", "scheme"), ("params", "bits"),
    ("params", "filters"), ("params", "target_sample_rate_hz"),
    ("metrics", "esr_corners"), ("metrics", "esr_edges"), ("metrics", "ecp5_lut4"),
    ("metrics", "ecp5_mult18"), ("metrics", "ecp5_fmax_mhz"),
)
"""The frontier view's columns: which search trial, what the design is and the fold's rate,
its quality and its synthesised cost (`make explore` tags its Pareto-optimal runs)."""

FILTERS = {DESIGNS: "tags.kind = 'design'", TRAINING: "tags.kind = 'training'",
           FRONTIER: "tags.kind = 'design' and tags.on_frontier = 'true'"}
COLUMNS = {DESIGNS: DESIGN_COLUMNS, TRAINING: TRAINING_COLUMNS, FRONTIER: FRONTIER_COLUMNS}

TRADE_OFFS = (("ecp5_mult18", "esr_corners"), ("ecp5_lut4", "esr_corners"),
              ("est_dsp", "esr_corners"), ("xc7_lut", "esr_corners"))
"""The designs view's charts (its chart mode): quality against each cost, one point per
design."""

BARS = ("esr_corners", "esr_edges", "max_sample_rate_hz")


def column(group: str, name: str) -> str:
    """A runs-table column id as the MLflow UI writes it: params.`scheme`."""
    return f"{group}.`{name}`"


def _chart_id(name: str) -> str:
    """Stable ids, so saving the views again writes the same tag."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"waveshaper/{name}"))


def _charts() -> tuple[list[dict], list[dict]]:
    section = _chart_id("section/quality-and-cost")
    common = {"runsCountToCompare": 100, "metricSectionId": section, "deleted": False,
              "isGenerated": False}
    charts = [{**common, "uuid": _chart_id(f"scatter/{x}/{y}"), "type": "SCATTER",
               "xaxis": {"key": x, "type": "METRIC"}, "yaxis": {"key": y, "type": "METRIC"}}
              for x, y in TRADE_OFFS]
    charts += [{**common, "uuid": _chart_id(f"bar/{name}"), "type": "BAR", "metricKey": name}
               for name in BARS]
    sections = [{"uuid": section, "name": "Quality against cost", "display": True,
                 "isReordered": False, "deleted": False, "isGenerated": False}]
    return charts, sections


def view_state(kind: str) -> dict:
    """The state of a saved view: the runs of `kind` ("designs", "training" or "frontier"),
    best `esr_corners` first, with that kind's columns (and, for designs and the frontier,
    the trade-off charts)."""
    state = {
        "searchFilter": FILTERS[kind],
        "orderByKey": column("metrics", "esr_corners"),
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": [column(group, name) for group, name in COLUMNS[kind]],
        "runListHidden": False,
        "isAccordionReordered": True,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
    }
    if kind != TRAINING:
        state["compareRunCharts"], state["compareRunSections"] = _charts()
    return state


VIEW_NAMES = {DESIGNS: "Designs: quality and cost", TRAINING: "Training runs",
              FRONTIER: "Frontier"}
_CREATED_MS = 1_700_000_000_000  # fixed, so the tag's value depends on the view alone


def envelope(kind: str) -> str:
    """The tag value MLflow's UI reads a saved view from (its state stored as plain JSON,
    which the UI accepts beside its own compressed form)."""
    return json.dumps({"name": VIEW_NAMES[kind], "createdAt": _CREATED_MS,
                       "updatedAt": _CREATED_MS, "state": json.dumps(view_state(kind))})


def save_views(experiment_id: str) -> None:
    """Write the saved views into the experiment (again: the same bytes)."""
    client = MlflowClient()
    for kind in VIEW_NAMES:
        client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG + kind, envelope(kind))


def describe(experiment_id: str, markdown: str) -> None:
    """The experiment's description, shown above its runs."""
    MlflowClient().set_experiment_tag(experiment_id, DESCRIPTION_TAG, markdown)


def runs_url(base: str, experiment_id: str, view: str = DESIGNS) -> str:
    """The UI's address of the experiment's runs table in a saved view, in MLflow's model
    training mode (not the GenAI traces overview)."""
    return (f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey="
            f"{quote(view)}&workflowType=machine_learning")


def main() -> None:
    """`make mlflow-ui`: make sure the project's experiment opens on its runs table with the
    saved views, and print the address that opens the designs view."""
    import argparse
    from pathlib import Path

    from pipeline.config import load_params
    from pipeline.tracking.store import EXPERIMENT_KIND, experiment_id

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    found = experiment_id(Path("."), load_params(args.params).tracking.experiment)
    client = MlflowClient()
    for key, value in EXPERIMENT_KIND.items():
        client.set_experiment_tag(found, key, value)
    save_views(found)
    print(f"MLflow UI: {runs_url(args.url, found)}", flush=True)


if __name__ == "__main__":
    main()
