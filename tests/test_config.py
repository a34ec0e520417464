"""A malformed config stops with a one-line error naming the field, before any work."""

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


PARAM_ERRORS = [
    ({"train.epochs": "ten"}, r"train\.epochs: Input should be a valid integer \(got 'ten'\)"),
    ({"train.learning_rate": -0.1}, r"train\.learning_rate: Input should be greater than 0"),
    ({"data.synth.frequency_range_hz": [2000.0, 30.0]}, r"data\.synth: frequency_range_hz"),
    ({"data.sample_rate": 48000.5}, r"data\.sample_rate: Input should be a valid integer"),
    ({"data.source": "tape"}, r"data\.source: Input should be 'synth', 'recorded' or 'both'"),
    ({"data.source": "recorded"}, r"data: source 'recorded' needs a 'recorded' section"),
    ({"train.epoch": 3}, r"train\.epoch: unknown key"),
    ({"train.lr_schedule": "linear"},
     r"train\.lr_schedule: Input should be 'constant' or 'cosine'"),
    ({"train.restarts": 0}, r"train\.restarts: Input should be greater than or equal to 1"),
    ({"hls.reuse_factor": 0}, r"hls\.reuse_factor: Input should be greater than or equal to 1"),
    ({"hls.backend": "Quartus"}, r"hls\.backend: Input should be 'Vitis' or 'Vivado'"),
    ({"hls.layers": {"qconv_0": {"result": "float"}}},
     r"hls\.layers\.qconv_0\.result: String should match pattern"),
]


@pytest.mark.parametrize(("override", "message"), PARAM_ERRORS)
def test_bad_params_name_the_field(tmp_path, override, message):
    path = write_yaml(tmp_path / "params.yaml", small_params(**override))
    with pytest.raises(ConfigError, match=message) as caught:
        load_params(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def model_with(**changes) -> dict:
    model = yaml.safe_load(yaml.safe_dump(TINY_MODEL))
    for dotted, value in changes.items():
        node = model
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = value
    return model


MODEL_ERRORS = [
    ({"layers.2.dilation": -4}, r"layers\.2\.dilation: Input should be greater than or equal "
                                r"to 1 \(got -4\)"),
    ({"layers.0.filters": 2.5}, r"layers\.0\.filters: Input should be a valid integer"),
    ({"layers.0.padding": "same"}, r"layers\.0\.padding: unknown key"),
    ({"kernel_quantizer.type": "quantized_tanh"}, r"kernel_quantizer: Input tag "
                                                  r"'quantized_tanh' found using 'type'"),
    ({"kernel_quantizer.integer": 12}, r"kernel_quantizer: integer \(12\) must be at most "
                                       r"bits - 1 \(11\)"),
    ({"layers.1.kernel_size": 2}, r"layers\.1: factorized_rank needs kernel_size 1"),
    ({"layers.2.filters": 2}, r"layers\.2\.filters must be 1"),
]


@pytest.mark.parametrize(("changes", "message"), MODEL_ERRORS)
def test_bad_model_configs_name_the_field(tmp_path, changes, message):
    path = write_yaml(tmp_path / "tiny.yaml", model_with(**changes))
    with pytest.raises(ConfigError, match=message):
        load_model_config(path)


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


def test_collect_stage_stops_before_any_work(tmp_path):
    params = write_yaml(tmp_path / "params.yaml", small_params(**{"data.synth.typo": 1}))
    out = tmp_path / "dataset"
    result = run_stage("pipeline.stages.collect", "--params", str(params), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {params}: data.synth.typo: unknown key"]
    assert not out.exists()
