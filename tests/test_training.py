"""A tiny but real training run of the train stage, tracked in a temporary MLflow store."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.outputs import MARKER
from pipeline.tracking import file_sha256, vocabulary
from tests.conftest import ROOT, small_params, tiny_models_dir, write_yaml


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env)


def train_tiny(folder):
    """Collect a tiny dataset and train the tiny model and its float twin in `folder`, in a
    store of its own; return the store and outputs."""
    params_file = write_yaml(folder / "twin" / "params.yaml",
                             small_params(**{"train.float_twin": True}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"}
    data = folder / "dataset"
    result = run(["pipeline.stages.collect", "--params", str(params_file), "--out", str(data)],
                 env)
    assert result.returncode == 0, result.stderr
    out, metrics = folder / "models" / "out" / "tiny", folder / "metrics" / "tiny.json"
    result = run(["pipeline.stages.train", "tiny", "--params", str(params_file), "--models-dir",
                  str(tiny_models_dir(folder)), "--data", str(data), "--out", str(out),
                  "--metrics", str(metrics), "--root", str(ROOT)], env)
    assert result.returncode == 0, result.stderr
    return env["MLFLOW_TRACKING_URI"], out, metrics


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One tiny training for the tests that only read its run and outputs."""
    return train_tiny(tmp_path_factory.mktemp("tracked"))


def test_train_stage_logs_a_complete_run(tracked):
    from qkeras.utils import load_qmodel

    from pipeline.fixed.reader import from_qkeras

    uri, out, metrics_path = tracked
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("waveshaper")
    (run_info,) = client.search_runs([experiment.experiment_id])
    assert run_info.info.run_name == "tiny" and run_info.info.status == "FINISHED"

    params = run_info.data.params
    assert params["scheme"] == "po2" and params["bits"] == "12, po2 4"
    assert params["receptive_field"] == "6" and params["dilations"] == "[1, 1, 2]"
    trained = from_qkeras(load_qmodel(str(out / "model.h5"), compile=False))
    assert params["multipliers"] == str(sum(layer.multiplies for layer in trained.layers))
    assert params["shift_adds"] == str(sum(layer.shift_adds for layer in trained.layers))
    assert 0 < int(params["shift_adds"]) <= 4 * 6 + 6 * 4  # the po2 pair's weights
    assert params["train.epochs"] == "2" and params["filters"] == "[4, 4, 1]"

    for key in ("loss", "val_loss", "val_esr"):
        history = client.get_metric_history(run_info.info.run_id, key)
        assert [m.step for m in history] == [0, 1]
    metrics = run_info.data.metrics
    for key in ("esr_corners", "esr_edges", "esr_sine", "esr_ramp", "esr_square",
                "esr_zigzag", "esr_heldout_freq"):
        assert np.isfinite(metrics[key]) and metrics[key] > 0
    assert set(metrics) <= vocabulary.metric_names("training") | {
        f"restart_{r}_{kind}" for r in range(2) for kind in ("val_esr", "esr_corners")}
    assert np.isfinite(metrics["float_esr_corners"]) and metrics["float_esr_corners"] > 0
    assert metrics["esr_corners_min"] <= metrics["esr_corners_median"] <= \
        metrics["esr_corners_max"]
    assert json.loads(metrics_path.read_text())["esr_corners"] == pytest.approx(
        metrics["esr_corners"])

    tags = run_info.data.tags
    assert len(tags["git_commit"].removesuffix("-dirty")) in (40, len("unknown"))
    assert "dataset_dvc_md5" in tags

    artifacts = {a.path for a in client.list_artifacts(run_info.info.run_id)}
    wavs = {f"{s}.wav" for s in ("sine", "ramp", "square", "zigzag")}
    assert artifacts == {"model_config.yaml", "params.yaml", "history.csv",
                         "training_curves.png", "embedding_grid.png", *wavs}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*artifacts - wavs, "model.h5", "examples", MARKER])
    assert tags["stage"] == "train" and tags["kind"] == "training" and tags["model"] == "tiny"
    assert tags["model_sha256"] == file_sha256(out / "model.h5")


def test_logged_model_loads_as_an_mlflow_model(tracked):
    from qkeras.utils import load_qmodel

    uri, out, _ = tracked
    client = MlflowClient(uri)
    (run_info,) = client.search_runs([client.get_experiment_by_name("waveshaper")
                                      .experiment_id])
    mlflow.set_tracking_uri(uri)
    model_uri = f"runs:/{run_info.info.run_id}/model"
    x = np.random.default_rng(0).uniform(-1, 1, (1, 50, 3)).astype("float32")
    expected = load_qmodel(out / "model.h5", compile=False).predict(x, verbose=0)
    keras = mlflow.tensorflow.load_model(model_uri)
    np.testing.assert_array_equal(keras.predict(x, verbose=0), expected)
    info = mlflow.models.get_model_info(model_uri)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, -1, 3]
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(model_uri).predict(x), expected)


def test_a_crash_marks_the_run_failed(tmp_path, params_file, models_dir, monkeypatch):
    from pipeline.stages import train as train_stage
    from pipeline.train import inference

    data = tmp_path / "dataset"
    result = run(["pipeline.stages.collect", "--params", str(params_file), "--out", str(data)],
                 dict(os.environ))
    assert result.returncode == 0, result.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash during evaluation")

    monkeypatch.setattr(inference, "evaluate", crash)
    monkeypatch.setattr(sys, "argv", ["train", "tiny", "--params", str(params_file),
                                      "--models-dir", str(models_dir), "--data", str(data),
                                      "--out", str(tmp_path / "out"), "--root", str(ROOT)])
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_stage.main()
    client = MlflowClient(uri)
    (run_info,) = client.search_runs([client.get_experiment_by_name("waveshaper")
                                      .experiment_id])
    assert run_info.info.status == "FAILED"
    assert not (tmp_path / "out").exists()


def tiny_splits(tmp_path, params_file):
    from pipeline.config import load_params
    from pipeline.data.dataset import load_split, write_dataset
    from pipeline.data.synth import synthesize

    params = load_params(params_file)
    write_dataset(tmp_path / "ds", synthesize(params.data.synth, 48000, params.seed))
    train, validation = (load_split(tmp_path / "ds", s) for s in ("train", "validation"))
    return params, train, validation


def test_training_is_reproducible(tmp_path, params_file, models_dir):
    from pipeline.config import load_model_config
    from pipeline.train.training import train

    params, train_split, validation = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    first, second = (train(config, params.train, train_split, validation, params.seed,
                           verbose=False) for _ in range(2))
    for a, b in zip(first.restarts, second.restarts, strict=True):
        assert a.history == b.history
        for weights_a, weights_b in zip(a.weights, b.weights, strict=True):
            np.testing.assert_array_equal(weights_a, weights_b)


def test_a_freshly_compiled_epoch_trains_to_the_same_weights(tmp_path, params_file):
    """Two restarts from one seed, each compiling its epoch afresh, on the same windows: the
    default fixed-point stack's 256 steps of 32 windows end at the same weights. Grappler's
    optimised graph gave a different loss at every compilation (three in a row: 0.3010,
    0.3021, 0.3013), so no training was reproduced from one process to the next."""
    from pipeline.config import load_model_config
    from pipeline.train.training import _Restart, check_window, epoch_windows, seed_everything

    params, train_split, _ = tiny_splits(tmp_path, params_file)
    seed_everything(params.seed)  # as `train` begins
    config = load_model_config(ROOT / "configs" / "models" / "fixed16_k3x7.yaml")
    recipe = params.train.model_copy(update={"batch_size": 32, "steps_per_epoch": 256})
    window = check_window(config, recipe, train_split)
    xs, ys = epoch_windows(train_split, window, recipe.batch_size, recipe.steps_per_epoch,
                           np.random.default_rng(0))
    losses, weights = [], []
    for _ in range(2):
        restart = _Restart(0, config, recipe, params.seed, window)
        losses.append(float(restart.epoch(xs, ys)))
        weights.append(restart.model.get_weights())
    assert losses[0] == losses[1]
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


TRAIN_TWO_STEPS = """
import hashlib
from pathlib import Path
import numpy as np
from pipeline.config import load_model_config, load_params
from pipeline.train.training import _Restart, seed_everything
params = load_params(Path("params.yaml"))
config = load_model_config(Path("configs/models/fixed16_k3x7.yaml"))
seed_everything(params.seed)
window = 4 * config.receptive_field
xs = np.random.default_rng(0).uniform(-1, 1, (2, 8, window, 3)).astype("float32")
restart = _Restart(0, config, params.train, params.seed, window)
restart.epoch(xs, np.tanh(3 * xs[..., :1]))
print(hashlib.sha256(b"".join(w.tobytes() for w in restart.model.get_weights())).hexdigest())
"""


def run_script(script: str, **environment: str | None) -> list[str]:
    """The words `script` prints, in a Python process of its own with `environment`
    changed (None: the variable unset)."""
    env = {**os.environ, **environment}
    env = {key: value for key, value in env.items() if value is not None}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def train_two_steps(**environment: str | None) -> str:
    """The hash of the default stack's weights after two steps (`run_script`)."""
    return run_script(TRAIN_TWO_STEPS, **environment)[-1]


def test_training_does_not_depend_on_the_machines_core_count():
    """TensorFlow gives a kernel one intra-op thread per core unless told otherwise, and
    splits its float32 sums over them: two steps of the default stack, in processes told
    they have 1 and 4 cores (TF_NUM_INTRAOP_THREADS), ended at different weights until
    `seed_everything` pinned one thread."""
    assert train_two_steps(TF_NUM_INTRAOP_THREADS="1") == \
        train_two_steps(TF_NUM_INTRAOP_THREADS="4")


def test_training_does_not_depend_on_the_cpus_vector_width():
    """oneDNN's matrix products, under TensorFlow's default kernels, pick AVX-512 at run
    time where the CPU has it and then sum otherwise than with AVX2; the project caps them
    at AVX2 (pipeline/__init__.py). A process left to the project's default must train what
    one told AVX2 does; on an AVX-512 CPU one allowed everything trains otherwise, which
    shows that the cap is what makes the first two equal."""
    default = train_two_steps(ONEDNN_MAX_CPU_ISA=None)
    assert default == train_two_steps(ONEDNN_MAX_CPU_ISA="AVX2")
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and " avx512f" in cpuinfo.read_text():
        assert train_two_steps(ONEDNN_MAX_CPU_ISA="ALL") != default


ONEDNN_ON = """
import pipeline
import tensorflow
from tensorflow.python.util import _pywrap_util_port

print(_pywrap_util_port.IsMklEnabled())
"""


def test_tensorflows_onednn_kernels_stay_off_when_the_project_is_imported_first():
    """TensorFlow turns its oneDNN kernels on by itself on CPUs with AVX-512 VNNI or newer,
    and they sum in other orders: a process that imports the project before TensorFlow, as
    every stage does, keeps them off on any CPU unless the environment asks for them."""
    assert run_script(ONEDNN_ON, TF_ENABLE_ONEDNN_OPTS=None) == ["False"]


def test_the_restart_with_the_lowest_validation_esr_is_kept(tmp_path, params_file,
                                                             models_dir):
    from pipeline.config import load_model_config
    from pipeline.train.inference import validation_metrics
    from pipeline.train.training import train

    params, train_split, validation = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    result = train(config, params.train, train_split, validation, params.seed, verbose=False)
    first, second = result.restarts
    assert not np.array_equal(first.weights[0], second.weights[0])  # other initialisations
    assert result.chosen == int(np.argmin([first.best_val_esr, second.best_val_esr]))
    kept = result.restarts[result.chosen]
    assert result.history is kept.history and result.best_epoch == kept.best_epoch
    # The model holds the kept restart's best-epoch weights, not its last ones.
    val_esr = validation_metrics(result.model, validation, config.receptive_field - 1)["val_esr"]
    assert val_esr == pytest.approx(kept.best_val_esr, rel=1e-6)


def test_cosine_schedule_decays_to_zero_over_the_planned_steps(params_file):
    from pipeline.config import load_params
    from pipeline.train.training import learning_rate_schedule

    config = load_params(params_file).train.model_copy(update={"lr_schedule": "cosine"})
    schedule = learning_rate_schedule(config)
    total = config.epochs * config.steps_per_epoch
    assert float(schedule(0)) == pytest.approx(config.learning_rate)
    assert float(schedule(total // 2)) == pytest.approx(config.learning_rate / 2, rel=1e-5)
    assert float(schedule(total)) == pytest.approx(0.0, abs=1e-9)
    constant = config.model_copy(update={"lr_schedule": "constant"})
    assert learning_rate_schedule(constant) == config.learning_rate


def test_windows_longer_than_segments_are_a_config_error(tmp_path, params_file, models_dir):
    from pipeline.config import load_model_config
    from pipeline.errors import ConfigError
    from pipeline.train.training import check_window

    params, train_split, _ = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    long_windows = params.train.model_copy(update={"window_receptive_fields": 1000})
    with pytest.raises(ConfigError, match=r"6000-sample windows, longer than the shortest "
                                          r"training segment \(2400 samples\)"):
        check_window(config, long_windows, train_split)


def test_export_hls_validate_and_report_stages_write_their_outputs_and_log_to_mlflow(
        tmp_path, params_file, models_dir):
    from pipeline.fixed.weights import read_weights

    uri, out, trained = train_tiny(tmp_path)  # its own: the stages log to it
    exports, metrics_path = tmp_path / "exports" / "tiny", tmp_path / "export.json"
    result = run(["pipeline.stages.export", "tiny", "--models", str(out.parent), "--data",
                  str(tmp_path / "dataset"), "--out", str(exports), "--metrics",
                  str(metrics_path), "--root", str(ROOT)],
                 {**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    exported = read_weights(exports / "weights.json")
    assert [layer.name for layer in exported.layers] == ["qconv_0", "qconv_1a", "qconv_1b",
                                                         "qconv_2"]
    assert "tiny_qconv_1a_shift" in (exports / "weights.h").read_text()
    metrics = json.loads(metrics_path.read_text())
    assert metrics["test_samples"] == 16 * 2400
    assert metrics["qconv_2_words"] == 16 * 2400 and metrics["qconv_0_overflows"] == 0
    client = MlflowClient(uri)
    (run_info,) = client.search_runs([client.get_experiment_by_name("waveshaper")
                                      .experiment_id])
    assert run_info.data.tags["model_sha256"] == file_sha256(out / "model.h5")
    logged = run_info.data.metrics
    layers = ("qconv_0", "qconv_1a", "qconv_1b", "qconv_2")
    for key in ("saturations", "overflows", "differing_words"):
        assert logged[f"reference_{key}"] == sum(metrics[f"{name}_{key}"] for name in layers)
    assert {a.path for a in client.list_artifacts(run_info.info.run_id, "export")} == {
        "export/weights.json", "export/weights.h"}

    project, hls_metrics = tmp_path / "hls" / "tiny", tmp_path / "hls.json"
    result = run(["pipeline.stages.hls", "tiny", "--params", str(params_file), "--exports",
                  str(exports.parent), "--data", str(tmp_path / "dataset"), "--out",
                  str(project), "--metrics", str(hls_metrics)],
                 {**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    hls_figures = json.loads(hls_metrics.read_text())
    assert (hls_figures["testbench_samples"], hls_figures["testbench_mismatches"]) == (
        16 * 2400, 0)
    assert hls_figures["est_shift_adds"] > 0 and hls_figures["est_dsp"] > 0
    assert (project / "csim.sh").exists() and not (project / "csim").exists()

    validated, plots_dir = tmp_path / "validated" / "tiny.json", tmp_path / "plots" / "tiny"
    result = run(["pipeline.stages.validate", "tiny", "--params", str(params_file), "--models",
                  str(out.parent), "--exports", str(exports.parent), "--hls-projects",
                  str(project.parent), "--hls-metrics", str(hls_metrics), "--data",
                  str(tmp_path / "dataset"), "--metrics", str(validated), "--plots",
                  str(plots_dir), "--audio", str(tmp_path / "audio" / "tiny")],
                 {**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    figures = json.loads(validated.read_text())
    sweep_samples = round(0.5 * 48000)
    assert figures["samples"] == 16 * 2400 + sweep_samples
    assert figures["hls_vs_reference_mismatches"] == 0
    assert 0 < figures["hls_vs_keras_mse"] <= 1e-7
    assert 0 <= figures["hls_vs_keras_lsd"] < 0.05
    assert figures["esr_corners"] == pytest.approx(figures["keras_esr_corners"], rel=1e-3)
    assert figures["est_dsp"] == hls_figures["est_dsp"]
    assert figures["parameters"] == sum(layer.kernel.size + layer.bias.size
                                        for layer in exported.layers)
    assert sorted(p.name for p in plots_dir.iterdir()) == [
        "embedding_grid.png", "error.png", "spectrograms.png", "waveforms.png"]
    assert sorted(p.name for p in (tmp_path / "audio" / "tiny").glob("*.wav")) == sorted(
        f"{excerpt}_{kind}.wav" for excerpt in ("sweep", "test")
        for kind in ("input", "target", "keras", "hls"))
    dataset, audio = str(tmp_path / "dataset"), tmp_path / "audio"
    rtl_sim, synthesised = tmp_path / "rtl_sim.json", validated.parent / "rtl" / "tiny.json"
    for stage_args in (["rtl", "--exports", str(exports.parent), "--data", dataset, "--out",
                        str(tmp_path / "rtl_projects" / "tiny"), "--metrics", str(rtl_sim)],
                       ["synth", "--projects", str(tmp_path / "rtl_projects"), "--sim-metrics",
                        str(rtl_sim), "--reports", str(tmp_path / "synth_reports"),
                        "--metrics", str(synthesised)]):
        result = run([f"pipeline.stages.{stage_args[0]}", "tiny", "--params", str(params_file),
                      *stage_args[1:]], os.environ)
        assert result.returncode == 0, result.stderr

    reports = tmp_path / "reports"
    (validated.parent / "train").mkdir()
    shutil.copy(trained, validated.parent / "train" / "tiny.json")
    report_args = ["pipeline.stages.report", "--params", str(params_file), "--models-dir",
                   str(models_dir), "--metrics", str(validated.parent), "--models",
                   str(out.parent), "--exports", str(exports.parent), "--plots",
                   str(plots_dir.parent), "--audio", str(audio), "--out", str(reports),
                   "--summary", str(tmp_path / "metrics.json"), "--root", str(ROOT)]
    for _ in range(2):  # the second report logs no second design run
        result = run(report_args, {**os.environ, "MLFLOW_TRACKING_URI": uri})
        assert result.returncode == 0, result.stderr
    (design,) = client.search_runs([run_info.info.experiment_id], "tags.kind = 'design'")
    assert "mlflow.parentRunId" not in design.data.tags
    assert design.data.tags["training_run_id"] == run_info.info.run_id
    for key in ("scheme", "bits", "filters", "multipliers", "shift_adds"):
        assert design.data.params[key] == run_info.data.params[key], key
    built = [float(passes) for passes in design.data.params["reuse_factors"].split("/")]
    assert built == hls_figures["reuse_factors"]  # the folding the hls stage built
    assert design.data.params["hls.reuse_factor"] == "None"  # the default: from the rate
    logged = design.data.metrics
    assert {n for n in logged if not vocabulary.is_restart_metric(n)} <= \
        vocabulary.metric_names("design")
    # The training's spread over restarts and the float twin, as the train stage measured.
    training_figures = json.loads(trained.read_text())
    for key in ("restart_0_esr_corners", "restart_1_esr_corners", "esr_corners_median",
                "esr_corners_min", "esr_corners_max", "float_esr_corners", "float_esr_edges"):
        assert logged[key] == pytest.approx(training_figures[key]), key
    assert logged["hls_vs_reference_mismatches"] == 0
    assert logged["esr_corners"] == pytest.approx(figures["esr_corners"])
    rtl_figures = json.loads(synthesised.read_text())
    assert logged["ecp5_mult18"] == rtl_figures["ecp5_mult18"]
    seconds = (design.info.end_time - design.info.start_time) / 1000
    assert seconds >= logged["rtl_seconds"] + logged["synth_seconds"] > 1
    assert {a.path for a in client.list_artifacts(design.info.run_id)} == {
        *(p.name for p in plots_dir.iterdir()), *(p.name for p in audio.glob("tiny/*.wav")),
        "quality_vs_cost.png", "comparison.md"}

    report = (reports / "comparison.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| **quality**"))
    assert f"{figures['esr_corners']:.4f}" in row
    row = next(line for line in report.splitlines() if "of every restart" in line)
    assert f"{training_figures['esr_corners_median']:.4f}" in row and "2 restarts" in row
    row = next(line for line in report.splitlines() if line.startswith("| float twin"))
    assert f"{training_figures['float_esr_corners']:.4f}" in row
    assert (reports / "quality_vs_cost.png").stat().st_size > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["tiny"]["esr_corners"] == (
        figures["esr_corners"])


def test_the_esr_loss_is_the_esr_of_the_pre_emphasised_signals():
    from pipeline.train.training import masked_esr

    rng = np.random.default_rng(3)
    target, prediction = rng.normal(size=(2, 4, 50, 1)).astype(np.float32)
    skip, coefficient = 5, 0.85
    emphasised = [y[:, skip:] - coefficient * y[:, skip - 1:-1] for y in (target, prediction)]
    expected = np.sum((emphasised[0] - emphasised[1]) ** 2) / np.sum(emphasised[0] ** 2)
    loss = float(masked_esr(skip, coefficient)(target, prediction))
    assert loss == pytest.approx(float(expected), rel=1e-5)  # float32 sums of 180 terms
    plain = np.sum((target[:, skip:] - prediction[:, skip:]) ** 2) / np.sum(target[:, skip:] ** 2)
    assert float(masked_esr(skip, 0.0)(target, prediction)) == pytest.approx(float(plain),
                                                                             rel=1e-5)


def test_the_float_twin_has_the_same_convolutions_in_float(tmp_path, params_file,
                                                            models_dir):
    from keras import layers as keras_layers

    from pipeline.config import load_model_config
    from pipeline.train.training import train

    params, train_split, validation = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    result = train(config, params.train, train_split, validation, params.seed, verbose=False,
                   float_twin=True)
    quantised, twin = result.model, result.float_twin.model
    assert len(result.float_twin.restarts) == params.train.restarts
    assert not any("Q" in type(layer).__name__ for layer in twin.layers)
    assert sum(isinstance(layer, keras_layers.ReLU) for layer in twin.layers) == 2
    assert [w.shape for w in twin.get_weights()] == [w.shape for w in quantised.get_weights()]
    # Off the quantisers' grids: the twin's weights are not fixed-point words of 9 fractional
    # bits (the tiny model's kernel format, 12 bits with 3 integer).
    kernel = twin.get_layer("qconv_0").get_weights()[0]
    assert np.any(kernel * 2**9 != np.round(kernel * 2**9))
    # Alone (`seed_spread.py --float`), it trains to the same weights as beside the model.
    alone = train(config, params.train, train_split, validation, params.seed, verbose=False,
                  quantized=False)
    assert not any("Q" in type(layer).__name__ for layer in alone.model.layers)
    assert all(np.array_equal(a, b) for a, b in zip(alone.model.get_weights(),
                                                     twin.get_weights(), strict=True))
    with pytest.raises(ValueError, match="no float twin"):
        train(config, params.train, train_split, validation, params.seed, verbose=False,
              float_twin=True, quantized=False)


def test_every_restarts_test_esr_is_reported_with_median_and_range(tmp_path, params_file,
                                                                     models_dir):
    from pipeline.config import load_model_config
    from pipeline.train.inference import evaluate, restart_spread
    from pipeline.train.training import train

    params, train_split, validation = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    skip = config.receptive_field - 1
    result = train(config, params.train, train_split, validation, params.seed, verbose=False)
    kept = evaluate(result.model, validation, skip)["esr_corners"]
    figures = restart_spread(result, validation, skip, kept)
    restarts = [figures[f"restart_{r}_esr_corners"] for r in range(params.train.restarts)]
    assert len(set(restarts)) == params.train.restarts  # other initialisations
    assert figures["esr_corners_min"] == min(restarts)
    assert figures["esr_corners_max"] == max(restarts)
    assert figures["esr_corners_median"] == pytest.approx(float(np.median(restarts)))
    # The kept restart's figure is the one given; the model is left holding its weights.
    assert restarts[result.chosen] == kept
    assert evaluate(result.model, validation, skip)["esr_corners"] == kept


@pytest.mark.parametrize(("schedule", "epochs_run"), [("cosine", 6), ("constant", 2)])
def test_early_stopping_never_cuts_a_cosine_rate_short(tmp_path, params_file, models_dir,
                                                        monkeypatch, schedule, epochs_run):
    from pipeline.config import load_model_config
    from pipeline.train import training

    worse = iter(range(1, 1000))  # validation only ever gets worse after the first epoch
    monkeypatch.setattr(training, "validation_metrics",
                        lambda *_: {"val_loss": 1.0, "val_esr": float(next(worse))})
    params, train_split, validation = tiny_splits(tmp_path, params_file)
    config = load_model_config(models_dir / "tiny.yaml")
    recipe = params.train.model_copy(update={"epochs": 6, "early_stopping_patience": 1,
                                             "restarts": 1, "lr_schedule": schedule})
    result = training.train(config, recipe, train_split, validation, params.seed,
                            verbose=False)
    assert len(result.history["val_esr"]) == epochs_run
