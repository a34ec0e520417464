"""What a run records besides its figures: the params of the vocabulary and the flat config,
the git commit and the dataset's DVC hash, the per-epoch training curves, and the trained
model as an MLflow model."""


from __future__ import annotations

import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from pipeline.config import ModelConfig, Params
from pipeline.config.models import QuantizedPo2
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.rules import parameters

if TYPE_CHECKING:
    import keras

    from pipeline.train.training import TrainResult

MAX_PARAM_LENGTH = 6000
"""MLflow's limit on a param value is 6,000 characters."""


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


def weight_bits(model_config: ModelConfig) -> str:
    """The kernel widths in layer order, once each: '16', or '16, po2 4' for a model whose
    factorised 1x1 layers are 4-bit power-of-two (a po2 weight is a sign and an exponent)."""
    widths: list[str] = []
    for index in range(len(model_config.layers)):
        quantizer = model_config.layer_kernel_quantizer(index)
        width = (f"po2 {quantizer.bits}" if isinstance(quantizer, QuantizedPo2)
                 else str(quantizer.bits))
        if width not in widths:
            widths.append(width)
    return ", ".join(widths)


def model_params(model_config: ModelConfig) -> dict[str, object]:
    """The model params both run kinds carry (`vocabulary.PARAMS`, products per sample
    aside: they need the trained weights, `cost_params`)."""
    return {
        "scheme": model_config.scheme,
        "bits": weight_bits(model_config),
        "activation_bits": getattr(model_config.activation, "bits", ""),
        "filters": [layer.filters for layer in model_config.layers],
        "dilations": [layer.dilation for layer in model_config.layers],
        "kernel_sizes": [layer.kernel_size for layer in model_config.layers],
        "receptive_field": model_config.receptive_field,
        "parameters": sum(parameters(conv.kernel_size, conv.in_channels, conv.out_channels)
                          for conv in model_config.convolutions()),
    }


def training_params(model_config: ModelConfig, params: Params) -> dict[str, object]:
    """A training run's params: the model's, then the seed, data and training settings (the
    model config itself is the run's artifact `model_config.yaml`)."""
    settings = flatten("", params.model_dump(include={"seed", "data", "train"}))
    return {**model_params(model_config), **settings}


def cost_params(model: ExportedModel) -> dict[str, int]:
    """Products per sample of the trained weights, by the cost model's rule
    (`pipeline.fixed.rules.products`)."""
    return {"multipliers": sum(layer.multiplies for layer in model.layers),
            "shift_adds": sum(layer.shift_adds for layer in model.layers)}


def as_params(values: dict[str, object]) -> list[Param]:
    return [Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in values.items()]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def dvc_outputs(root: Path) -> list[str]:
    """Every output path in `root`'s dvc.lock: what `dvc repro` writes besides the lock."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    return sorted({out["path"] for stage in lock.get("stages", {}).values()
                   for out in stage.get("outs", []) if "path" in out})


def git_commit(root: Path = Path(".")) -> str:
    """HEAD's commit, suffixed `-dirty` when tracked files differ from it, leaving out what a
    pipeline run writes itself: dvc.lock and DVC's outputs (metrics.json is one in git).

    `root` is the folder the stage runs in: a queued DVC experiment's copy, whose own changes
    (the experiment's params) do make it dirty."""
    excluded = [f":(exclude){path}" for path in ["dvc.lock", *dvc_outputs(root)]]
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".",
                     *excluded)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


def dataset_hash(dataset_dir: str, root: Path = Path(".")) -> str:
    """The DVC hash of the dataset folder as recorded in dvc.lock by the collect stage."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "unknown"
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == dataset_dir:
                return out.get("md5", "unknown")
    return "unknown"


def log_history(run_id: str, result: TrainResult) -> None:
    """Per-epoch `loss`, `val_loss` and `val_esr` of the kept restart, and every restart's
    `val_esr` as `restart_<r>_val_esr`, so the spread between initialisations is visible.

    Logged after training, in one batch from this thread: the restarts train in worker
    threads."""
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(values[epoch]), now, epoch)
               for key, values in result.history.items() for epoch in range(len(values))]
    metrics += [Metric(f"restart_{r.restart}_val_esr", float(value), now, epoch)
                for r in result.restarts for epoch, value in enumerate(r.history["val_esr"])]
    MlflowClient().log_batch(run_id, metrics=metrics)


def _pin(*names: str) -> str:
    """`name==version` of the first of `names` installed (TensorFlow is tensorflow-cpu on
    Linux, tensorflow elsewhere: pyproject.toml)."""
    for name in names:
        try:
            return f"{name}=={version(name)}"
        except PackageNotFoundError:
            continue
    raise PackageNotFoundError(names[0])


def log_model(model: keras.Model, input_example, custom_objects: dict) -> str:
    """The trained model as an MLflow model of the active run, loadable with
    `mlflow.tensorflow.load_model` or `mlflow.pyfunc.load_model`: `custom_objects` (QKeras's
    and the project's layers, `pipeline.train.layers.custom_objects`) go with it, and its
    signature takes any number of samples, (batch, time, 3) -> (batch, time, 1). Its
    requirements are the pinned packages it needs (inferring them would load the model again
    in a subprocess). Returns the model's URI."""
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    channels_in, channels_out = model.input_shape[-1], model.output_shape[-1]
    signature = ModelSignature(Schema([TensorSpec(np.dtype("float32"), (-1, -1, channels_in))]),
                               Schema([TensorSpec(np.dtype("float32"),
                                                  (-1, -1, channels_out))]))
    requirements = [_pin("tensorflow-cpu", "tensorflow"), _pin("keras"), _pin("qkeras-v3"),
                    _pin("numpy")]
    info = mlflow.tensorflow.log_model(model, name="model", signature=signature,
                                       input_example=input_example,
                                       custom_objects=custom_objects,
                                       pip_requirements=requirements)
    return info.model_uri
