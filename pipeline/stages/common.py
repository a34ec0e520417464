"""The command line every per-model stage shares: the model's name, params.yaml, the folders
it reads, and the files it writes, each defaulting to the model's own path."""

import argparse
import os
from pathlib import Path


def project_root() -> Path:
    """Where the MLflow store lives: DVC's project root. A queued `dvc exp run` runs in a
    temporary copy, and DVC points DVC_ROOT at the project, so every experiment's runs land
    in the project's one store."""
    return Path(os.environ.get("DVC_ROOT", "."))


def model_arguments(doc: str, folders: dict[str, str], per_model: dict[str, str],
                    mlflow: bool = False) -> argparse.Namespace:
    """Parse `<model> --params ...`. `folders`: flag -> default folder the stage reads;
    `per_model`: flag -> default path with `{model}`, resolved for the model given (so
    `args.out`, `args.metrics`... are paths). `mlflow`: add `--root`, the project whose
    store the stage logs to (DVC_ROOT in a DVC experiment, else the current folder)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("model", help="the model's name (configs/models/<model>.yaml)")
    parser.add_argument("--params", default="params.yaml", type=Path)
    for flag, default in folders.items():
        parser.add_argument(f"--{flag}", default=default, type=Path)
    for flag, pattern in per_model.items():
        parser.add_argument(f"--{flag}", default=None, type=Path, help=f"default: {pattern}")
    if mlflow:
        parser.add_argument("--root", default=project_root(), type=Path,
                            help="project root (MLflow store); default: DVC_ROOT, else .")
    args = parser.parse_args()
    for flag, pattern in per_model.items():
        attribute = flag.replace("-", "_")
        if getattr(args, attribute) is None:
            setattr(args, attribute, Path(pattern.format(model=args.model)))
    return args
