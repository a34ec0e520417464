"""MLflow tracking: one run per trained model config, so quantisation schemes can be compared
side by side in the MLflow UI.

By default the store is embedded: `sqlite:///mlflow.db` at the project root, artifacts in
`mlartifacts/` beside it. `MLFLOW_TRACKING_URI` points runs elsewhere (a server, another
file). Open the UI with `mlflow ui --backend-store-uri sqlite:///mlflow.db`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import yaml
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.config import ModelConfig, Params
from pipeline.errors import PipelineError
from pipeline.model import model_cost
from pipeline.training import TrainResult


def project_root() -> Path:
    """Where the MLflow store lives: DVC's project root. A queued `dvc exp run` runs in a
    temporary copy, and DVC points DVC_ROOT at the project, so every experiment's runs land
    in the project's one store."""
    return Path(os.environ.get("DVC_ROOT", "."))


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.resolve()}/mlflow.db"


@contextlib.contextmanager
def start_run(root: Path, experiment: str, run_name: str) -> Iterator[mlflow.ActiveRun]:
    """A run in `experiment`; an exception inside marks it FAILED (MLflow's own handling)."""
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = (root.resolve() / "mlartifacts").as_uri() if uri.startswith("sqlite") else None
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        yield run


RUN_ID_FILE = "mlflow_run_id"


def _run_id(root: Path, run_id_file: Path) -> str:
    """The training run's id from the file the train stage wrote, checked against the store."""
    mlflow.set_tracking_uri(tracking_uri(root))
    run_id = run_id_file.read_text().strip()
    try:
        MlflowClient().get_run(run_id)
    except MlflowException:
        raise PipelineError(f"{run_id_file}: run {run_id} is not in the tracking store "
                            f"{tracking_uri(root)}; retrain the model to log to this store"
                            ) from None
    return run_id


@contextlib.contextmanager
def resume_run(root: Path, run_id_file: Path) -> Iterator[mlflow.ActiveRun]:
    """Reopen the run whose id a train stage wrote next to its model, so later stages log
    to the same run."""
    with mlflow.start_run(run_id=_run_id(root, run_id_file)) as run:
        yield run


@contextlib.contextmanager
def start_design_run(root: Path, run_id_file: Path, run_name: str,
                     params: dict[str, object]) -> Iterator[mlflow.ActiveRun]:
    """A run nested under the model's training run, for one validated design.

    A sweep over HLS settings reuses the trained model (DVC restores it), so the design's
    figures cannot go to the training run: they get a child run of their own, holding the
    training run's params plus `params` (the HLS and validation settings), tagged with the
    DVC experiment's name. Filter `tags.stage = "validate"` in the UI to compare designs."""
    parent_id = _run_id(root, run_id_file)
    parent = MlflowClient().get_run(parent_id)
    inherited = {key: value for key, value in parent.data.tags.items()
                 if not key.startswith("mlflow.")}
    tags = {**inherited, "mlflow.parentRunId": parent_id, "stage": "validate",
            "dvc_experiment": os.environ.get("DVC_EXP_NAME", "workspace"),
            "git_commit": git_commit(root)}
    with mlflow.start_run(experiment_id=parent.info.experiment_id, run_name=run_name,
                          tags=tags) as run:
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
