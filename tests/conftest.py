"""Shared fixtures: small but real configs, written as YAML files the way users write them."""

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


def small_params(**overrides) -> dict:
    """params.yaml with the default structure and a dataset small enough for a test."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    synth = params["data"]["synth"]
    synth["segment_seconds"] = 0.05
    synth["segments"] = {"train": 12, "validation": 4, "test": 16}
    params["train"].update(epochs=2, steps_per_epoch=3, batch_size=4,
                           early_stopping_patience=2, restarts=2)
    params["models"] = ["tiny"]
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return params


TINY_MODEL = {
    "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 12, "integer": 3},
    "bias_quantizer": {"type": "quantized_bits", "bits": 12, "integer": 3},
    "activation": {"type": "quantized_relu", "bits": 12, "integer": 3},
    "layers": [
        {"filters": 4, "kernel_size": 2, "dilation": 1},
        {"filters": 4, "kernel_size": 1, "factorized_rank": 6,
         "kernel_quantizer": {"type": "quantized_po2", "bits": 4, "max_value": 1.0}},
        {"filters": 1, "kernel_size": 3, "dilation": 2},
    ],
}


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "params.yaml", small_params())


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    write_yaml(tmp_path / "models" / "tiny.yaml", TINY_MODEL)
    return tmp_path / "models"
