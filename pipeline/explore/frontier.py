"""The study's answer: its Pareto-optimal trials as a table, a figure, a saved MLflow view,
and on request a model config.

A trial is on the frontier when it completed, its placed design reaches the clock, and no
other such trial is at least as good in all three objectives (test `esr_corners`, ECP5 LUT4,
ECP5 MULT18X18D) and better in one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from pipeline.config import Params, load_model_config
from pipeline.errors import ConfigError
from pipeline.evaluate import plots
from pipeline.explore.study import BASELINE, CONSTRAINT, SAME_AS, trial_config_path
from pipeline.outputs import write_text_atomic
from pipeline.tracking.store import tracking_uri

ON_FRONTIER_TAG = "on_frontier"


@dataclass(frozen=True)
class FrontierRow:
    """One Pareto-optimal trial: a row of frontier.csv."""

    trial: int
    scheme: str
    esr_corners: float
    esr_edges: float
    ecp5_lut4: int
    ecp5_mult18: int
    ecp5_fmax_mhz: float
    sample_rate_hz: float
    config: str  # the trial's model config file
    baseline: str  # the model config a baseline trial builds (explore.baselines), else ""


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is no worse than `b` in every objective and better in one (all minimised)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True))


def pareto(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (a point and its exact copy both
    stay)."""
    return [i for i, point in enumerate(points)
            if not any(dominates(other, point) for other in points)]


def feasible(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Completed trials whose placed design reaches the clock, each design once."""
    return [t for t in trials if t.state == TrialState.COMPLETE
            and t.user_attrs.get(CONSTRAINT, 0.0) <= 0 and SAME_AS not in t.user_attrs]


def frontier(study: optuna.Study, root: Path) -> list[FrontierRow]:
    """The study's Pareto-optimal trials, lowest ESR first."""
    candidates = feasible(study.get_trials(deepcopy=False))
    front = [candidates[i] for i in pareto([t.values for t in candidates])]
    rows = [FrontierRow(t.number, t.user_attrs["scheme"], t.values[0],
                        t.user_attrs.get("esr_edges", float("nan")), int(t.values[1]),
                        int(t.values[2]), t.user_attrs.get("ecp5_fmax_mhz", float("nan")),
                        float(t.params["sample_rate_hz"]),
                        str(trial_config_path(root, study.study_name, t.number).relative_to(root)),
                        t.user_attrs.get(BASELINE, ""))
            for t in front]
    return sorted(rows, key=lambda row: (row.esr_corners, row.ecp5_lut4, row.trial))


def frontier_csv(rows: Sequence[FrontierRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([field.name for field in fields(FrontierRow)])
    for row in rows:  # figures to 6 significant digits
        writer.writerow([f"{value:.6g}" if isinstance(value, float) else value
                         for value in asdict(row).values()])
    return out.getvalue()


def default_points(root: Path, params: Params) -> list[dict]:
    """The pipeline's default models as the last `dvc repro` measured them (none before
    it has run): test esr_corners from the train stage, ECP5 cells from the synth stage."""
    points = []
    for name in params.models:
        train = root / "metrics" / "train" / f"{name}.json"
        synth = root / "metrics" / "rtl" / f"{name}.json"
        config = root / "configs" / "models" / f"{name}.yaml"
        if not (train.is_file() and synth.is_file() and config.is_file()):
            continue
        quality, cost = json.loads(train.read_text()), json.loads(synth.read_text())
        points.append({"model": name, "scheme": load_model_config(config).scheme,
                       "esr_corners": quality["esr_corners"],
                       "ecp5_lut4": cost["ecp5_lut4"], "ecp5_mult18": cost["ecp5_mult18"]})
    return points


def write_frontier(study: optuna.Study, root: Path, params: Params) -> list[FrontierRow]:
    """explore/<study>/frontier.csv and frontier.png, and the frontier tag on the trials'
    MLflow design runs (the saved view "Frontier" shows the tagged ones)."""
    rows = frontier(study, root)
    folder = root / "explore" / study.study_name
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "frontier.csv", frontier_csv(rows))
    on_front = {row.trial for row in rows}
    trials = feasible(study.get_trials(deepcopy=False))
    points = [{"trial": t.number, "scheme": t.user_attrs["scheme"], "esr_corners": t.values[0],
               "ecp5_lut4": t.values[1], "ecp5_mult18": t.values[2],
               "baseline": t.user_attrs.get(BASELINE, "")} for t in trials]
    staging = folder / ".frontier.png.partial.png"
    budgets = sorted({t.user_attrs["epochs"] for t in trials if t.user_attrs.get("epochs")})
    plots.frontier(staging, points, [p for p in points if p["trial"] in on_front],
                   default_points(root, params), ", ".join(map(str, budgets)) or "?",
                   params.train.epochs)
    staging.replace(folder / "frontier.png")
    client = MlflowClient(tracking_uri(root))  # the trials' store, wherever this runs
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id is not None:
            client.set_tag(run_id, ON_FRONTIER_TAG, str(trial.number in on_front).lower())
    return rows


def promote(study: optuna.Study, number: int, models_dir: Path, name: str) -> Path:
    """Write trial `number`'s model config as `models_dir/<name>.yaml`, to become a model of
    the pipeline (`models` in params.yaml)."""
    path = models_dir / f"{name}.yaml"
    if path.exists():
        raise ConfigError(f"{path}: already exists (choose another --name)")
    found = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not found or found[0].state != TrialState.COMPLETE:
        done = sorted(t.number for t in study.get_trials(deepcopy=False,
                                                          states=(TrialState.COMPLETE,)))
        raise ConfigError(f"study {study.study_name}: trial {number} did not complete "
                          f"(completed trials: {', '.join(map(str, done)) or 'none'})")
    write_text_atomic(path, found[0].user_attrs["config"])
    return path
