"""MLflow tracking: one run per trained model config, so quantisation schemes can be compared
side by side in the MLflow UI.

By default the store is embedded: `sqlite:///mlflow.db` at the project root, artifacts in
`mlartifacts/` beside it. `MLFLOW_TRACKING_URI` points runs elsewhere (a server, another
file). Open the UI with `mlflow ui --backend-store-uri sqlite:///mlflow.db`.

The train stage opens the model's run. Later stages find it by the sha256 of `model.h5`
(tag `model_sha256`), not by a run id stored with the model: the id would change the model
folder's DVC hash on every retraining of the same weights, and a separate file would not be
restored by DVC in a queued experiment's copy of the project. A store without such a run
(a fresh clone, another store) gets a new run for the model from export or hls, and a design
run without a parent from validate; the stage says so.

Every run is tagged with the stage that created it (`stage`) and the host and process holding
it open (`host`, `pid`, `pid_started`; a stage that reopens the run updates them). A run
ends FINISHED, FAILED on an error, KILLED on SIGTERM/SIGINT. A process killed outright
(SIGKILL, out of memory) cannot end its run, so every stage first marks KILLED the RUNNING
runs of its experiment on this host whose process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import psutil
from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from pipeline.errors import Interrupted
from pipeline.tracking.record import git_commit, log_params

if TYPE_CHECKING:
    pass

MODEL_HASH_TAG = "model_sha256"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.resolve()}/mlflow.db"


def _started(process: psutil.Process) -> str:
    return f"{process.create_time():.2f}"


def process_tags() -> dict[str, str]:
    """The host and process holding a run open; `pid_started` tells a reused pid apart."""
    return {"host": socket.gethostname(), "pid": str(os.getpid()),
            "pid_started": _started(psutil.Process())}


def _process_gone(tags: dict[str, str]) -> bool:
    try:
        process = psutil.Process(int(tags["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return tags.get("pid_started", _started(process)) != _started(process)
    except psutil.NoSuchProcess:
        return True
    except (KeyError, ValueError, psutil.Error):
        return False  # no pid recorded, or not ours to inspect: cannot tell


def close_orphaned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of the experiment on this host whose process is gone;
    returns their ids."""
    client = MlflowClient()
    running = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and "
                                       f"tags.host = '{socket.gethostname()}'")
    closed = []
    for run in running:
        if _process_gone(run.data.tags):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            print(f"mlflow: run {run.info.run_name!r} ({run.info.run_id}) was left RUNNING by "
                  f"process {run.data.tags['pid']}, which is gone: marked KILLED", flush=True)
            closed.append(run.info.run_id)
    return closed


def _experiment_id(root: Path, experiment: str) -> str:
    """The experiment's id in the project's store (created on first use), after closing
    the runs that killed processes left open there."""
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        location = (root.resolve() / "mlartifacts").as_uri() if uri.startswith("sqlite") else None
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    close_orphaned_runs(experiment_id)
    return experiment_id


@contextlib.contextmanager
def _ending(run: mlflow.ActiveRun) -> Iterator[mlflow.ActiveRun]:
    """End the active run FINISHED, KILLED on SIGTERM/SIGINT, FAILED on any other error."""
    try:
        yield run
    except (Interrupted, KeyboardInterrupt):
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


@contextlib.contextmanager
def start_run(root: Path, experiment: str, run_name: str,
              stage: str) -> Iterator[mlflow.ActiveRun]:
    """A new run in `experiment`, opened by `stage`."""
    experiment_id = _experiment_id(root, experiment)
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                           tags={"stage": stage, **process_tags()})
    with _ending(run):
        yield run


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_model_run(experiment_id: str, digest: str) -> Run | None:
    """The latest run tagged with the sha256 of the model file that is no design run (those
    are nested under it, or stand alone when the store had no model run)."""
    for run in MlflowClient().search_runs([experiment_id],
                                          filter_string=f"tags.{MODEL_HASH_TAG} = '{digest}'",
                                          order_by=["attributes.start_time DESC"]):
        if run.data.tags.get("stage") != "validate":
            return run
    return None


def _no_model_run(stage: str, model_name: str, model_file: Path, digest: str,
                  instead: str) -> None:
    print(f"{stage} {model_name}: the tracking store {mlflow.get_tracking_uri()} has no run "
          f"of {model_file} (sha256 {digest[:12]}); {instead} (train the model again to log "
          f"every stage to its training run)", flush=True)


@contextlib.contextmanager
def model_run(root: Path, experiment: str, model_name: str, model_file: Path,
              stage: str) -> Iterator[mlflow.ActiveRun]:
    """Reopen the model's run (the run of the training that wrote `model_file`), so later
    stages log their figures beside the training's."""
    experiment_id = _experiment_id(root, experiment)
    digest = file_sha256(model_file)
    found = _find_model_run(experiment_id, digest)
    if found is not None:
        run = mlflow.start_run(run_id=found.info.run_id)
        mlflow.set_tags(process_tags())
    else:
        run = mlflow.start_run(experiment_id=experiment_id, run_name=model_name,
                               tags={"stage": stage, MODEL_HASH_TAG: digest, **process_tags()})
        _no_model_run(stage, model_name, model_file, digest,
                      f"logging to a new run {run.info.run_id}")
    with _ending(run):
        yield run


@contextlib.contextmanager
def start_design_run(root: Path, experiment: str, model_name: str, model_file: Path,
                     run_name: str, params: dict[str, object]) -> Iterator[mlflow.ActiveRun]:
    """A run nested under the model's run, for one validated design.

    A sweep over HLS settings reuses the trained model (DVC restores it), so the design's
    figures cannot go to the training run: they get a child run of their own, holding the
    training run's params plus `params` (the HLS and validation settings), tagged with the
    DVC experiment's name. Filter `tags.stage = "validate"` in the UI to compare designs."""
    experiment_id = _experiment_id(root, experiment)
    digest = file_sha256(model_file)
    parent = _find_model_run(experiment_id, digest)
    tags = {"stage": "validate", MODEL_HASH_TAG: digest,
            "dvc_experiment": os.environ.get("DVC_EXP_NAME", "workspace"),
            "git_commit": git_commit(root), **process_tags()}
    inherited_params: dict[str, str] = {}
    if parent is None:
        _no_model_run("validate", model_name, model_file, digest,
                      "the design run has no parent run")
    else:
        inherited = {key: value for key, value in parent.data.tags.items()
                     if not key.startswith("mlflow.")}
        tags = {**inherited, "mlflow.parentRunId": parent.info.run_id, **tags}
        inherited_params = parent.data.params
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    with _ending(run):
        log_params({**inherited_params, **params})
        yield run
