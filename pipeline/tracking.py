"""MLflow tracking: one run per trained model config, so quantisation schemes can be compared
side by side in the MLflow UI.

By default the store is embedded: `sqlite:///mlflow.db` at the project root, artifacts in
`mlartifacts/` beside it. `MLFLOW_TRACKING_URI` points runs elsewhere (a server, another
file). Open the UI with `mlflow ui --backend-store-uri sqlite:///mlflow.db`.

The train stage opens the model's run. Later stages find it by the sha256 of `model.h5`
(tag `model_sha256`), not by a run id stored with the model: the id would change the model
folder's DVC hash on every retraining of the same weights, and a separate file would not be
restored by DVC in a queued experiment's copy of the project. A store without such a run
(a fresh clone, another store) gets a new run for the model, and the stage says so.

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
from mlflow.entities import Metric, RunStatus
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


def _model_run_id(experiment_id: str, model_name: str, model_file: Path, stage: str) -> str:
    """The model's run: the latest top-level run tagged with the sha256 of `model_file`, or
    a new one (said on stdout) when the store has none."""
    client = MlflowClient()
    digest = file_sha256(model_file)
    for run in client.search_runs([experiment_id],
                                  filter_string=f"tags.{MODEL_HASH_TAG} = '{digest}'",
                                  order_by=["attributes.start_time DESC"]):
        if "mlflow.parentRunId" not in run.data.tags:
            return run.info.run_id
    run = client.create_run(experiment_id, run_name=model_name,
                            tags={"stage": stage, MODEL_HASH_TAG: digest})
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    print(f"{stage} {model_name}: the tracking store {mlflow.get_tracking_uri()} has no run "
          f"of {model_file} (sha256 {digest[:12]}); logging to a new run "
          f"{run.info.run_id} (train the model again to log every stage to its training run)",
          flush=True)
    return run.info.run_id


@contextlib.contextmanager
def model_run(root: Path, experiment: str, model_name: str, model_file: Path,
              stage: str) -> Iterator[mlflow.ActiveRun]:
    """Reopen the model's run (the run of the training that wrote `model_file`), so later
    stages log their figures beside the training's."""
    experiment_id = _experiment_id(root, experiment)
    run = mlflow.start_run(run_id=_model_run_id(experiment_id, model_name, model_file, stage))
    with _ending(run):
        mlflow.set_tags(process_tags())
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
    parent_id = _model_run_id(experiment_id, model_name, model_file, "validate")
    parent = MlflowClient().get_run(parent_id)
    inherited = {key: value for key, value in parent.data.tags.items()
                 if not key.startswith("mlflow.")}
    tags = {**inherited, "mlflow.parentRunId": parent_id, "stage": "validate",
            "dvc_experiment": os.environ.get("DVC_EXP_NAME", "workspace"),
            "git_commit": git_commit(root), **process_tags()}
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    with _ending(run):
        log_params({**parent.data.params, **params})
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
