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
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import psutil
import yaml
from mlflow.entities import Metric, Run, RunStatus
from mlflow.tracking import MlflowClient

from pipeline.config import ModelConfig, Params
from pipeline.errors import Interrupted

if TYPE_CHECKING:
    from pipeline.training import TrainResult

MODEL_HASH_TAG = "model_sha256"


def project_root() -> Path:
    """Where the MLflow store lives: DVC's project root. A queued `dvc exp run` runs in a
    temporary copy, and DVC points DVC_ROOT at the project, so every experiment's runs land
    in the project's one store."""
    return Path(os.environ.get("DVC_ROOT", "."))


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


def flatten(prefix: str, value: object) -> dict[str, object]:
    """A nested config as flat MLflow params: `prefix.key.subkey`, list items by index."""
    if isinstance(value, dict):
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return flat
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(f"{prefix}.{index}", item))
        return flat
    return {prefix: value}


def run_params(model_config: ModelConfig, params: Params) -> dict[str, object]:
    """The whole config as flat MLflow params, with the headline figures first-class."""
    from pipeline.model import model_cost  # TensorFlow: only the train stage needs it here

    cost = model_cost(model_config)
    kernel = model_config.kernel_quantizer
    headline = {
        "scheme": model_config.scheme,
        "bits": kernel.bits,
        "integer_bits": getattr(kernel, "integer", ""),
        "activation_bits": getattr(model_config.activation, "bits", ""),
        "filters": [layer.filters for layer in model_config.layers],
        "dilations": [layer.dilation for layer in model_config.layers],
        "kernel_sizes": [layer.kernel_size for layer in model_config.layers],
        "receptive_field": model_config.receptive_field,
        "parameters": cost.parameters,
        "multipliers": cost.multipliers,
        "shift_adds": cost.shift_adds,
    }
    model = flatten("model", model_config.model_dump(exclude={"description"}))
    rest = flatten("", params.model_dump(include={"seed", "data", "train"}))
    return {**headline, **model, **rest}


def log_params(values: dict[str, object]) -> None:
    mlflow.log_params({key: str(value)[:6000] for key, value in values.items()})


def git_commit(root: Path) -> str:
    """HEAD's commit, suffixed `-dirty` when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


def dataset_hash(root: Path, dataset_dir: str) -> str:
    """The DVC hash of the dataset folder as recorded in dvc.lock by the collect stage."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    except OSError:
        return "unknown"
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == dataset_dir:
                return out.get("md5", "unknown")
    return "unknown"


def log_history(result: TrainResult) -> None:
    """Per-epoch `loss`, `val_loss` and `val_esr` of the kept restart, and every restart's
    `val_esr` as `restart_<r>_val_esr`, so the spread between initialisations is visible.

    Logged after training, in one batch from this thread: the restarts train in worker
    threads, and MLflow's active run belongs to the thread that started it."""
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(values[epoch]), now, epoch)
               for key, values in result.history.items() for epoch in range(len(values))]
    metrics += [Metric(f"restart_{r.restart}_val_esr", float(value), now, epoch)
                for r in result.restarts for epoch, value in enumerate(r.history["val_esr"])]
    MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=metrics)
