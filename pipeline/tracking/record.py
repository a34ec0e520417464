"""What a run records besides its metrics: the config as flat params, the products per sample,
the git commit and the dataset's DVC hash, and the per-epoch training curves."""


from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import yaml
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.config import ModelConfig, Params
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.rules import parameters

if TYPE_CHECKING:
    from pipeline.train.training import TrainResult

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
    """The whole config as flat MLflow params, with the headline figures first-class (the
    products per sample need the trained weights: `cost_params`)."""
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
        "parameters": sum(parameters(conv.kernel_size, conv.in_channels, conv.out_channels)
                          for conv in model_config.convolutions()),
    }
    model = flatten("model", model_config.model_dump(exclude={"description"}))
    rest = flatten("", params.model_dump(include={"seed", "data", "train"}))
    return {**headline, **model, **rest}


def cost_params(model: ExportedModel) -> dict[str, int]:
    """Products per sample of the trained weights, by the cost model's rule
    (`pipeline.fixed.rules.products`)."""
    return {"multipliers": sum(layer.multiplies for layer in model.layers),
            "shift_adds": sum(layer.shift_adds for layer in model.layers)}


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
