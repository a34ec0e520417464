"""Shared fixtures: small but real configs, written as YAML files the way users write them."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pipeline  # noqa: F401  (before keras: its TensorFlow CPU settings, as in the stages)

# isort: split
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from qkeras import QActivation, QConv1D, quantized_bits

from pipeline.config import load_model_config, load_params
from pipeline.data.dataset import load_split, write_dataset
from pipeline.data.synth import synthesize
from pipeline.data.waveforms import oscillator_phase, triangle
from pipeline.train.layers import CausalQConv1D
from pipeline.train.model import build_model
from pipeline.train.training import pin_threads

pin_threads()  # as a training process does, before TensorFlow's first op

ROOT = Path(__file__).resolve().parents[1]


def small_params(**overrides) -> dict:
    """params.yaml with the default structure and a dataset small enough for a test."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    synth = params["data"]["synth"]
    synth["segment_seconds"] = 0.05
    synth["segments"] = {"train": 12, "validation": 4, "test": 16}
    # No float twin: it doubles every test's training; the tests about it turn it on.
    params["train"].update(epochs=2, steps_per_epoch=3, batch_size=4,
                           early_stopping_patience=2, restarts=2, float_twin=False)
    params["models"] = ["tiny"]
    params["validation"]["sweep"]["seconds"] = 0.5
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


def store_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file of the project's MLflow store (`mlflow.db`, `mlartifacts/`, `mlruns/`) with
    its size and modification time."""
    paths = [root / "mlflow.db", *(p for folder in ("mlartifacts", "mlruns")
                                    for p in (root / folder).rglob("*"))]
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in paths if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def project_store_untouched(tmp_path_factory):
    """No test writes into the project's MLflow store or artifact folder: runs that name no
    store go to a temporary one, and the session fails if the project's changed."""
    before = store_state(ROOT)
    folder = tmp_path_factory.mktemp("default-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
        yield
    after = store_state(ROOT)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the tests wrote into the project's MLflow store: {changed[:10]}"


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "params.yaml", small_params())


def tiny_models_dir(folder: Path) -> Path:
    """`folder/models`, holding the tiny model's config as `tiny.yaml`."""
    return write_yaml(folder / "models" / "tiny.yaml", TINY_MODEL).parent


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tiny_models_dir(tmp_path)


SAMPLES = 48_000

K3_8BIT = {
    "input_quantizer": {"type": "quantized_bits", "bits": 12, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 8, "integer": 2},
    "bias_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "activation": {"type": "quantized_relu", "bits": 8, "integer": 3},
    "layers": [
        {"filters": 6, "kernel_size": 3, "dilation": 1},
        {"filters": 6, "kernel_size": 3, "dilation": 2},
        {"filters": 6, "kernel_size": 3, "dilation": 4},
        {"filters": 1, "kernel_size": 2, "dilation": 8},
    ],
}


def architecture(name: str, tmp_path):
    if name in ("fixed16", "po2"):
        return load_model_config(ROOT / "configs" / "models" / f"{name}.yaml")
    spec = K3_8BIT if name == "k3_8bit" else TINY_MODEL
    return load_model_config(write_yaml(tmp_path / f"{name}.yaml", spec))


def randomise_biases(model: keras.Model, seed: int) -> keras.Model:
    """Seeded random biases on every QConv1D, so every bias word is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, QConv1D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0.0, 0.3, bias.shape).astype(np.float32)])
    return model


def random_model(config, seed: int) -> keras.Model:
    """Seeded initial weights with random biases."""
    keras.utils.set_random_seed(seed)
    return randomise_biases(build_model(config), seed)


def chain(*layers) -> keras.Model:
    """A 16-bit input quantiser followed by `layers`: small models for refusal tests."""
    inputs = keras.Input((None, 3))
    x = QActivation(quantized_bits(16, 0, alpha=1), name="input_q")(inputs)
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def qconv(name="qconv_0", **changes) -> QConv1D:
    """A small causal QConv1D with 8-bit quantisers; `changes` override its settings."""
    settings = dict(filters=2, kernel_size=3, padding="causal",
                    kernel_quantizer=quantized_bits(8, 0, alpha=1),
                    bias_quantizer=quantized_bits(8, 0, alpha=1))
    settings.update(changes)
    return CausalQConv1D(name=name, **settings)


def signals() -> list[np.ndarray]:
    """A gliding triangle under a fixed embedding and uniform noise over the whole input
    range, 48,000 samples each."""
    freq = np.geomspace(40.0, 1800.0, SAMPLES)
    core = triangle(oscillator_phase(freq, 48_000, 0.1))
    shaped = np.stack([core, np.full(SAMPLES, 0.3), np.full(SAMPLES, -0.7)], -1)
    noise = np.random.default_rng(1).uniform(-1.0, 1.0, (SAMPLES, 3))
    return [shaped.astype(np.float32), noise.astype(np.float32)]


@pytest.fixture(scope="session")
def test_split(tmp_path_factory) -> list[np.ndarray]:
    """A synthesised test split of 16 segments of 3,000 samples: 48,000 samples."""
    folder = tmp_path_factory.mktemp("split")
    params = load_params(write_yaml(folder / "params.yaml",
                                    small_params(**{"data.synth.segment_seconds": 0.0625})))
    write_dataset(folder / "ds", synthesize(params.data.synth, 48_000, params.seed))
    inputs = load_split(folder / "ds", "test").inputs
    assert sum(len(x) for x in inputs) == SAMPLES
    return inputs
