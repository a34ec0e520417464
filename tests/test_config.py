"""A malformed config stops with a one-line error naming the field, before any work (the
table of bad configs is tests/test_bad_config.py)."""

import subprocess
import sys

import pytest
import yaml

from pipeline.config import load_model_config, load_params
from pipeline.errors import ConfigError
from tests.conftest import ROOT, TINY_MODEL, small_params, write_yaml


def test_shipped_configs_are_valid():
    params = load_params(ROOT / "params.yaml")
    for name in params.models:
        config = load_model_config(ROOT / "configs" / "models" / f"{name}.yaml")
        assert config.name == name
    fixed16 = load_model_config(ROOT / "configs" / "models" / "fixed16.yaml")
    assert fixed16.receptive_field == 64
    assert [layer.dilation for layer in fixed16.layers] == [1, 4, 16]


def model_with(**changes) -> dict:
    model = yaml.safe_load(yaml.safe_dump(TINY_MODEL))
    for dotted, value in changes.items():
        node = model
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = value
    return model


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config file"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line"):
        load_params(bad)


def run_stage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_train_stage_stops_before_any_work(tmp_path, params_file):
    models = tmp_path / "models"
    write_yaml(models / "tiny.yaml", model_with(**{"layers.1.dilation": -2}))
    out = tmp_path / "trained"
    result = run_stage("pipeline.stages.train", "tiny", "--params", str(params_file),
                       "--models-dir", str(models), "--data", str(tmp_path / "no-data"),
                       "--out", str(out), "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {models / 'tiny.yaml'}: layers.1.dilation: Input should be greater than or "
        "equal to 1 (got -2)"]
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()


def test_train_stage_answers_a_bad_config_without_importing_tensorflow(tmp_path, params_file):
    """TensorFlow, QKeras and MLflow take seconds to import: a config error comes first."""
    models = tmp_path / "models"
    write_yaml(models / "tiny.yaml", model_with(**{"layers.1.dilation": -2}))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeline.stages.train", "tiny", "--params",
         str(params_file), "--models-dir", str(models), "--out", str(tmp_path / "trained")],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    *imports, error = result.stderr.strip().splitlines()
    assert error.startswith(f"error: {models / 'tiny.yaml'}: layers.1.dilation")
    imported = {line.rsplit("|", 1)[-1].strip() for line in imports}
    assert "pipeline.config" in imported
    assert not imported & {"tensorflow", "keras", "qkeras", "mlflow"}


def test_collect_stage_stops_before_any_work(tmp_path):
    params = write_yaml(tmp_path / "params.yaml", small_params(**{"data.synth.typo": 1}))
    out = tmp_path / "dataset"
    result = run_stage("pipeline.stages.collect", "--params", str(params), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {params}: data.synth.typo: unknown key"]
    assert not out.exists()
