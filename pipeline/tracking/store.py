"""MLflow tracking: one run per trained model config (a training run) and one per design, a
model with one set of hardware settings (a design run), so quantisation schemes can be
compared side by side in the MLflow UI.

By default the store is embedded: `sqlite:///mlflow.db` at the project root, artifacts in
`mlartifacts/` beside the database. `MLFLOW_TRACKING_URI` points runs elsewhere; the
artifacts of an SQLite store always go beside its database, wherever the project is, so a
store in a temporary folder (the tests') never writes into the project.

The train stage opens the training run. Later stages find it by the sha256 of `model.h5`
(tag `model_sha256`), not by a run id stored with the model: the id would change the model
folder's DVC hash on every retraining of the same weights, and a separate file would not be
restored by DVC in a queued experiment's copy of the project. The export stage adds its
figures to the training run without reopening it, so the run's duration stays the
training's; a store without such a run gets a new one from export, which says so.

Design runs are written whole by the report stage (`pipeline.tracking.design`), top-level
runs tagged with their training run's id: the MLflow UI shows a nested run only under its
collapsed parent, also when a filter selects the children.

Every run is tagged with the stage that created it (`stage`), its kind (`kind`: training or
design) and the host and process holding it open (`host`, `pid`, `pid_started`). A run ends
FINISHED, FAILED on an error, KILLED on SIGTERM/SIGINT. A process killed outright (SIGKILL,
out of memory) cannot end its run, so every stage first marks KILLED the RUNNING runs of its
experiment on this host whose process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import mlflow
import psutil
from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from pipeline.errors import Interrupted

MODEL_HASH_TAG = "model_sha256"
KIND_TAG = "kind"
TRAINING, DESIGN = "training", "design"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
"""MLflow 3's UI opens an experiment of this kind on its runs table, not on the GenAI
traces overview."""


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.resolve()}/mlflow.db"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment's artifacts go: `mlartifacts/` beside an SQLite database
    (MLflow's default would be `./mlruns` in whatever folder the process runs in); None for
    any other store, which decides for itself (a server, a file store)."""
    if not uri.startswith("sqlite:///"):
        return None
    # sqlite:///relative/path.db, or sqlite:////absolute/path.db (SQLAlchemy's convention)
    database = Path(unquote(uri.removeprefix("sqlite:///").split("?")[0]))
    return (database.resolve().parent / "mlartifacts").as_uri()


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


def experiment_id(root: Path, experiment: str) -> str:
    """The experiment's id in the project's store, created on first use (its artifacts
    beside the store, opening on the runs table, with the project's saved views), after
    closing the runs that killed processes left open there."""
    from pipeline.tracking import views

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        created = mlflow.create_experiment(experiment, artifact_location=artifact_location(uri),
                                           tags=EXPERIMENT_KIND)
        views.save_views(created)
        return created
    close_orphaned_runs(found.experiment_id)
    return found.experiment_id


def _end(end: Callable[[str], None]) -> contextlib.AbstractContextManager:
    """End a run with `end(status)`: FINISHED, KILLED on SIGTERM/SIGINT, FAILED on any other
    error."""

    @contextlib.contextmanager
    def ending() -> Iterator[None]:
        try:
            yield
        except (Interrupted, KeyboardInterrupt):
            end(RunStatus.to_string(RunStatus.KILLED))
            raise
        except BaseException:
            end(RunStatus.to_string(RunStatus.FAILED))
            raise
        end(RunStatus.to_string(RunStatus.FINISHED))

    return ending()


@contextlib.contextmanager
def start_run(root: Path, experiment: str, run_name: str, stage: str,
              tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """A new training run in `experiment`, opened by `stage`, active in this thread (MLflow's
    model logging needs an active run)."""
    run = mlflow.start_run(experiment_id=experiment_id(root, experiment), run_name=run_name,
                           tags={"stage": stage, KIND_TAG: TRAINING, **(tags or {}),
                                 **process_tags()})
    with _end(lambda status: mlflow.end_run(status)):
        yield run


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_model_run(experiment: str, digest: str) -> Run | None:
    """The latest training run of the model file whose sha256 is `digest` (design runs carry
    the same tag; those of older versions were tagged `stage = validate`)."""
    for run in MlflowClient().search_runs([experiment],
                                          filter_string=f"tags.{MODEL_HASH_TAG} = '{digest}'",
                                          order_by=["attributes.start_time DESC"]):
        tags = run.data.tags
        if tags.get(KIND_TAG, TRAINING) == TRAINING and tags.get("stage") != "validate":
            return run
    return None


@contextlib.contextmanager
def model_run(root: Path, experiment: str, model_name: str, model_file: Path,
              stage: str) -> Iterator[str]:
    """The id of the model's training run (the run of the training that wrote `model_file`),
    for a later stage to log its figures beside the training's through `MlflowClient`. The
    run is not reopened, so its status and duration stay the training's. Without one in the
    store, a new run for the model, ended when the stage is done."""
    found_in = experiment_id(root, experiment)
    digest = file_sha256(model_file)
    found = find_model_run(found_in, digest)
    if found is not None:
        yield found.info.run_id
        return
    client = MlflowClient()
    run = client.create_run(found_in, run_name=model_name,
                            tags={"stage": stage, KIND_TAG: TRAINING, "model": model_name,
                                  MODEL_HASH_TAG: digest, **process_tags()})
    run_id = run.info.run_id
    print(f"{stage} {model_name}: the tracking store {mlflow.get_tracking_uri()} has no run of "
          f"{model_file} (sha256 {digest[:12]}); logging to a new run {run_id} (train the "
          f"model again to log every stage to its training run)", flush=True)
    with _end(lambda status: client.set_terminated(run_id, status)):
        yield run_id


def find_design_run(experiment: str, key: str) -> Run | None:
    """A finished design run made from exactly the same files (tag `design_key`)."""
    runs = MlflowClient().search_runs(
        [experiment], filter_string=f"tags.design_key = '{key}' and attributes.status = "
                                    f"'FINISHED'", max_results=1)
    return runs[0] if runs else None


@contextlib.contextmanager
def design_run(experiment: str, run_name: str, tags: dict[str, str],
               seconds: float) -> Iterator[str]:
    """A new top-level design run, its id for `MlflowClient` logging. Its duration is
    `seconds`, the wall time of the stages that made and checked the design, plus the time
    it takes to log: it starts that long before it is logged."""
    client = MlflowClient()
    start = int((time.time() - seconds) * 1000)
    run = client.create_run(experiment, start_time=start, run_name=run_name,
                            tags={"stage": "report", KIND_TAG: DESIGN, **tags,
                                  **process_tags()})
    run_id = run.info.run_id
    with _end(lambda status: client.set_terminated(run_id, status)):
        yield run_id
