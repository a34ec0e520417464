"""The names runs are compared by, the saved MLflow views, and the git commit runs are tagged
with."""

import json
import re
import subprocess

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.tracking import experiment_id, git_commit, views, vocabulary
from tests.conftest import ROOT


def documented_names() -> dict[str, set[str]]:
    """The "Names" table of docs/tracking.md: each name with the run kinds that log it."""
    text = (ROOT / "docs" / "tracking.md").read_text()
    section = text.split("\n## Names\n", 1)[1].split("\n#", 1)[0]
    names: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (found := re.fullmatch(r"`([^`]+)`", cells[0])):
            names[found[1]] = {kind.strip() for kind in cells[1].split(",")}
    return names


def test_the_docs_document_every_name_of_the_vocabulary_and_no_other():
    documented = documented_names()
    expected = {**{n: {"metric: training", "metric: design"} for n in vocabulary.QUALITY},
                **{n: {"metric: training", "metric: design"} for n in vocabulary.SPREAD},
                **{n: {"metric: training"} for n in vocabulary.TRAINING},
                **{n: {"metric: design"} for n in vocabulary.DESIGN},
                **{n: {"param: training", "param: design"} for n in vocabulary.PARAMS},
                **{n: {"param: design"} for n in vocabulary.DESIGN_PARAMS},
                **{n: {"tag"} for n in vocabulary.TAGS}}
    assert documented == expected


def test_the_designs_view_shows_quality_and_cost_columns_of_the_vocabulary(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    found = experiment_id(tmp_path, "views")
    tags = MlflowClient().get_experiment(found).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    saved = json.loads(tags[views.SHARED_VIEW_TAG + views.DESIGNS])
    state = json.loads(saved["state"])
    assert state["searchFilter"] == "tags.kind = 'design'"
    columns = [re.fullmatch(r"(params|metrics)\.`(\w+)`", c).groups()
               for c in state["selectedColumns"]]
    names = vocabulary.metric_names("design")
    assert all(name in names for group, name in columns if group == "metrics")
    assert all(name in {**vocabulary.PARAMS, **vocabulary.DESIGN_PARAMS}
               for group, name in columns if group == "params")
    assert {"esr_corners", "ecp5_mult18", "ecp5_lut4", "est_dsp"} <= {n for _, n in columns}
    views.save_views(found)  # again: the same bytes
    assert MlflowClient().get_experiment(found).tags == tags
    assert views.runs_url("http://127.0.0.1:5000/", found) == (
        f"http://127.0.0.1:5000/#/experiments/{found}/runs?viewStateShareKey=designs"
        f"&workflowType=machine_learning")
    # The artifacts of a store in a temporary folder stay beside it.
    assert mlflow.get_experiment(found).artifact_location == (tmp_path / "mlartifacts").as_uri()


def test_the_frontier_view_shows_the_searchs_pareto_optimal_designs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    found = experiment_id(tmp_path, "views")
    saved = json.loads(MlflowClient().get_experiment(found).tags[
        views.SHARED_VIEW_TAG + views.FRONTIER])
    assert saved["name"] == "Frontier"
    state = json.loads(saved["state"])
    assert state["searchFilter"] == "tags.kind = 'design' and tags.on_frontier = 'true'"
    columns = [re.fullmatch(r"(params|metrics|tags)\.`(\w+)`", c).groups()
               for c in state["selectedColumns"]]
    known = {"params": {**vocabulary.PARAMS, **vocabulary.DESIGN_PARAMS},
             "metrics": vocabulary.metric_names("design"), "tags": vocabulary.TAGS}
    assert all(name in known[group] for group, name in columns)
    assert {"study", "trial", "esr_corners", "ecp5_lut4", "ecp5_mult18"} <= {
        name for _, name in columns}


def git(folder, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                   check=True, capture_output=True)


@pytest.mark.parametrize(("changed", "dirty"), [
    ((), False), (("dvc.lock",), False), (("metrics.json",), False),
    (("dvc.lock", "metrics.json"), False), (("params.yaml",), True),
    (("dvc.lock", "params.yaml"), True)])
def test_git_commit_is_dirty_only_for_changes_a_pipeline_run_does_not_make(
        tmp_path, changed, dirty):
    lock = {"schema": "2.0", "stages": {"report": {"outs": [{"path": "metrics.json"},
                                                           {"path": "reports"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "start")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    for name in changed:
        with open(tmp_path / name, "a") as handle:
            handle.write("# changed\n")
    assert git_commit(tmp_path) == head + ("-dirty" if dirty else "")
