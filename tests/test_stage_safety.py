"""Stages never delete what they did not write, leave nothing half-written or stale behind,
end their MLflow runs on signals and kills, and report bad input files in one line."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from pipeline import outputs, tracking
from pipeline.config import load_model_config, load_params
from pipeline.data.dataset import MANIFEST, MANIFEST_COLUMNS, write_dataset
from pipeline.data.synth import synthesize
from pipeline.errors import STOP_SIGNALS, run_stage
from pipeline.evaluate.report import Design, markdown
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.weights import write_weights
from pipeline.outputs import MARKER, OutputError
from pipeline.stages import report as report_stage
from tests.conftest import ROOT, TINY_MODEL, random_model, small_params, write_yaml

EXPERIMENT = "waveshaper"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project: params, the tiny model config, a collected dataset, a seeded random
    model saved as the train stage would (no training needed), its export, and an MLflow
    store (MLFLOW_TRACKING_URI) for the whole module."""
    root = tmp_path_factory.mktemp("project")
    params_file = write_yaml(root / "params.yaml", small_params())
    write_yaml(root / "configs" / "tiny.yaml", TINY_MODEL)
    params = load_params(params_file)
    write_dataset(root / "dataset", synthesize(params.data.synth, 48000, params.seed))
    model = random_model(load_model_config(root / "configs" / "tiny.yaml"), seed=3)
    (root / "models" / "tiny").mkdir(parents=True)
    model.save(root / "models" / "tiny" / "model.h5")
    (root / "exports" / "tiny").mkdir(parents=True)
    write_weights(from_qkeras(model), root / "exports" / "tiny" / "weights.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        yield root


def stage(name: str, args: list, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run a stage in this process as its entry point does (`run_stage`); its exit status,
    stdout and stderr. MLflow artifacts go beside the test's store, not into the project."""
    from importlib import import_module

    main = import_module(f"pipeline.stages.{name}").main
    if name in ("train", "export", "report") and "--root" not in args:
        store = os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")
        args = [*args, "--root", Path(store).parent]
    monkeypatch.setattr(sys, "argv", [name, *map(str, args)])
    handlers = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        run_stage(main)
        status = 0
    except SystemExit as done:
        status = done.code
    finally:
        for stop_signal, handler in handlers.items():
            signal.signal(stop_signal, handler)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_error_line(status: int, err: str) -> str:
    """The stage failed as a user error should: exit 2, one `error:` line, no traceback."""
    assert status == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0].removeprefix("error: ")


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------- refusing what is not ours


def test_collect_refuses_a_folder_of_recordings_and_deletes_nothing(tmp_path, project):
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for index in range(3):
        sf.write(recordings / f"take{index}.wav", np.zeros(100, np.float32), 48000)
    before = listing(recordings)
    done = subprocess.run([sys.executable, "-m", "pipeline.stages.collect", "--params",
                           str(project / "params.yaml"), "--out", str(recordings)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {recordings}: not empty and not an earlier output of the collect stage (no "
        f"{MARKER} marker of the collect stage); refusing to replace it (move its contents "
        f"away, or choose another output path)"]
    assert listing(recordings) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recordings"]


def test_a_stage_replaces_its_own_earlier_output(tmp_path, project, monkeypatch, capsys):
    out = tmp_path / "data" / "dataset"
    args = ["--params", project / "params.yaml", "--out", out]
    assert stage("collect", args, monkeypatch, capsys)[0] == 0
    first = listing(out)
    assert first[MARKER] == outputs.marker_text("collect").encode()
    (out / MANIFEST).write_text("changed by hand")
    status, _, err = stage("collect", args, monkeypatch, capsys)
    assert status == 0, err
    assert listing(out) == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset"]  # no staging left


def test_convert_writes_over_its_own_project_but_not_over_other_folders(tmp_path, project):
    from qkeras.utils import load_qmodel

    from pipeline.hls import convert

    model = load_qmodel(str(project / "models" / "tiny" / "model.h5"), compile=False)
    config = {"testbench_samples": 100}
    first = listing(convert(model, tmp_path / "project", config).project_dir)
    assert listing(convert(model, tmp_path / "project", config).project_dir) == first
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=rf"^{other}: not empty and not an earlier output of "
                                          r"the hls stage"):
        convert(model, other, config)
    assert listing(other) == {"notes.txt": b"keep me"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "project"]


@pytest.mark.parametrize("name", ["train", "export", "hls", "report"])
def test_every_stage_refuses_an_unmarked_output_folder_before_working(
        name, tmp_path, project, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("keep me")
    common = ["--params", project / "params.yaml"]
    args = {"train": ["tiny", *common, "--models-dir", project / "configs", "--data",
                      project / "dataset", "--out", out],
            "export": ["tiny", *common, "--models", project / "models", "--out", out],
            "hls": ["tiny", *common, "--exports", project / "exports", "--out", out],
            "report": [*common, "--models-dir", project / "configs", "--out", out]}[name]
    message = one_error_line(*stage(name, args, monkeypatch, capsys)[::2])
    assert message.startswith(f"{out}: not empty and not an earlier output of the {name} "
                              f"stage")
    assert listing(out) == {"keep.txt": b"keep me"}


# ---------------------------------------------------------------- staging leftovers


HOLD_STAGING = textwrap.dedent("""
    import sys, time
    from pipeline.outputs import staged_directory
    with staged_directory(sys.argv[1], "collect") as staging:
        (staging / "half.wav").write_bytes(b"x" * 1000)
        print(staging.name, flush=True)
        time.sleep(60)
""")


def test_staging_of_a_killed_run_is_removed_and_a_live_one_is_not(tmp_path):
    out = tmp_path / "data" / "dataset"
    killed = subprocess.Popen([sys.executable, "-c", HOLD_STAGING, str(out)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    stale = out.parent / killed.stdout.readline().strip()
    killed.kill()
    killed.wait()
    legacy = out.parent / ".dataset.k2v_x9qa"  # an earlier version's tempfile.mkdtemp name
    legacy.mkdir()
    (out.parent / "dataset.notes").write_text("not staging")
    assert stale.is_dir() and stale.name.startswith(".dataset.staging-")

    with outputs.staged_directory(out, "collect") as live:
        assert not stale.exists() and not legacy.exists()
        (live / "a.wav").write_bytes(b"x")
        assert outputs.clean_stale_staging(out) == []  # the live one is held
        assert live.is_dir()
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset", "dataset.notes"]
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.wav"]


def test_staging_names_are_ignored_by_git_and_dvc():
    staging = "data/.dataset.staging-0a1b2c3d"
    ignored = subprocess.run(["git", "check-ignore", "-q", staging], cwd=ROOT)
    assert ignored.returncode == 0
    dvc = Path(sys.executable).with_name("dvc")
    ignored = subprocess.run([str(dvc), "check-ignore", "-q", staging], cwd=ROOT)
    assert ignored.returncode == 0


# ---------------------------------------------------------------- hls: checked before moved


def test_hls_stage_fails_in_one_line_and_leaves_no_project_when_words_differ(
        tmp_path, project, monkeypatch, capsys):
    """A precision override that breaks bit-exactness: convert() would write it (a study),
    the stage refuses it."""
    params = write_yaml(tmp_path / "params.yaml", small_params(
        **{"hls.layers": {"qconv_0": {"result": "ap_fixed<8,2>"}}}))
    out = tmp_path / "hls_projects" / "tiny"
    message = one_error_line(*stage("hls", [
        "tiny", "--params", params, "--exports", project / "exports", "--data",
        project / "dataset", "--out", out, "--metrics", tmp_path / "hls.json"], monkeypatch,
        capsys)[::2])
    assert message.startswith(f"{out}: C simulation: ")
    differing, words = map(int, message.split(": ")[2].split(" output words")[0].split(" of "))
    assert 0 < differing <= words == sum(
        int(line.split(",")[MANIFEST_COLUMNS.index("samples")])
        for line in (project / "dataset" / MANIFEST).read_text().splitlines()[1:]
        if line.split(",")[1] == "test")
    assert message.endswith(" start-of-stream flags differ from the fixed-point reference")
    assert list(out.parent.iterdir()) == [] and not (tmp_path / "hls.json").exists()


def test_a_gxx_failure_reports_its_first_error_line_not_the_caret(tmp_path, project):
    from pipeline.config import HlsConfig
    from pipeline.fixed.weights import read_weights
    from pipeline.hls.project import write_project
    from pipeline.hls.simulation import CompileError, run_csim_elsewhere

    exported = read_weights(project / "exports" / "tiny" / "weights.json")
    folder = write_project(exported, tmp_path / "p", HlsConfig(testbench_samples=10)).project_dir
    testbench = folder / "myproject_test.cpp"  # g++'s first source: it stops right there
    lines = testbench.read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("#include")) + 1
    lines.insert(line - 1, '#include "no_such_header.h"')
    testbench.write_text("\n".join(lines) + "\n")
    with pytest.raises(CompileError) as raised:
        run_csim_elsewhere(folder)
    # g++ follows the error with the source line, a caret line and "compilation terminated."
    assert str(raised.value) == (f"{folder}/csim.sh failed (exit 1): myproject_test.cpp:{line}: "
                                 f"no_such_header.h: No such file or directory")


# ---------------------------------------------------------------- bad input files


def copy_dataset(project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project / "dataset", tmp_path / "dataset"))


def edit_manifest(dataset: Path, edit) -> None:
    path = dataset / MANIFEST
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def replace_field(column: str, value: str):
    def edit(lines):
        fields = lines[1].split(",")
        fields[MANIFEST_COLUMNS.index(column)] = value
        return [lines[0], ",".join(fields), *lines[2:]]
    return edit


def drop_column(name: str):
    """An edit of the manifest's lines that removes one column."""
    index = MANIFEST_COLUMNS.index(name)

    def edit(lines: list[str]) -> list[str]:
        return [",".join(v for i, v in enumerate(line.split(",")) if i != index)
                for line in lines]
    return edit


def first_test_wav(dataset: Path) -> Path:
    row = next(line.split(",") for line in (dataset / MANIFEST).read_text().splitlines()[1:]
               if line.split(",")[1] == "test")
    return dataset / row[MANIFEST_COLUMNS.index("input_file")]


DATASET_CASES = {
    "manifest missing": (lambda d: (d / MANIFEST).unlink(),
                         r"{m}: cannot read \(No such file or directory\); expected the CSV "
                         r"manifest the collect stage writes"),
    "manifest without a column": (
        lambda d: edit_manifest(d, drop_column("target_file")),
        r"{m}: no column target_file; expected the header id,split,.*,fit_esr \(run the "
        r"collect stage again\)"),
    "manifest with a short row": (
        lambda d: edit_manifest(d, lambda lines: [lines[0], "x,test", *lines[2:]]),
        rf"{{m}}: line 2: 2 fields where the header has {len(MANIFEST_COLUMNS)}; expected the CSV "
        r"manifest the collect stage writes \(run the collect stage again\)"),
    "manifest with a bad number": (
        lambda d: edit_manifest(d, replace_field("e0", "left")),
        r"{m}: line 2: e0: expected a number, got 'left' \(run the collect stage again\)"),
    "manifest with a bad integer": (
        lambda d: edit_manifest(d, replace_field("samples", "2400.5")),
        r"{m}: line 2: samples: expected an integer, got '2400.5' \(run the collect stage "
        r"again\)"),
    "manifest with a bad flag": (
        lambda d: edit_manifest(d, replace_field("heldout_freq", "yes")),
        r"{m}: line 2: heldout_freq: expected 0 or 1, got 'yes'"),
    "manifest not UTF-8": (
        lambda d: (d / MANIFEST).write_bytes((d / MANIFEST).read_bytes() + b"\xff\xfe,\n"),
        r"{m}: not UTF-8 text \(byte 0xff at offset \d+\); expected the CSV manifest the "
        r"collect stage writes \(run the collect stage again\)"),
    "WAV missing": (lambda d: first_test_wav(d).unlink(),
                    r"{w}: missing \(listed in the dataset manifest\) \(run the collect stage "
                    r"again\)"),
    "WAV not audio": (lambda d: first_test_wav(d).write_text("not audio"),
                      r"{w}: not a readable WAV file \(Format not recognised\) \(run the "
                      r"collect stage again\)"),
    "WAV truncated": (lambda d: first_test_wav(d).write_bytes(
                          first_test_wav(d).read_bytes()[:1000]),
                      r"{w}: \d+ samples at 48000 Hz; the manifest says 2400 at 48000 Hz"),
    "WAV stereo": (lambda d: sf.write(first_test_wav(d), np.zeros((2400, 2)), 48000,
                                      subtype="FLOAT"),
                   r"{w}: 2 channels; expected mono"),
}


@pytest.mark.parametrize("case", DATASET_CASES)
def test_bad_dataset_files_are_one_line_errors(case, tmp_path, project, monkeypatch, capsys):
    """Through the export stage, which reads the test split after loading the model."""
    dataset = copy_dataset(project, tmp_path)
    wav = first_test_wav(dataset)
    damage, expected = DATASET_CASES[case]
    damage(dataset)
    message = one_error_line(*stage("export", [
        "tiny", "--params", project / "params.yaml", "--models", project / "models",
        "--data", dataset, "--out", tmp_path / "out"], monkeypatch, capsys)[::2])
    assert re.fullmatch(expected.format(m=dataset / MANIFEST, w=wav) + ".*",
                                      message), message
    assert not (tmp_path / "out").exists()


MODEL_CASES = {
    "truncated": (lambda b: b[:5000], r".*\(truncated file: eof = 5000, .*\)"),
    "not HDF5": (lambda b: b"weights\n", r".*\(file signature not found\)"),
    "empty": (lambda b: b"", r".*\(file signature not found\)"),
}


@pytest.mark.parametrize("name", ["export", "validate"])
@pytest.mark.parametrize("case", MODEL_CASES)
def test_a_broken_model_file_is_a_one_line_error(case, name, tmp_path, project, monkeypatch,
                                                 capsys):
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    damage, reason = MODEL_CASES[case]
    model = models / "tiny" / "model.h5"
    model.write_bytes(damage((project / "models" / "tiny" / "model.h5").read_bytes()))
    hls_metrics = tmp_path / "hls.json"
    hls_metrics.write_text(json.dumps({"testbench_samples": 1}))
    (tmp_path / "hls_projects" / "tiny").mkdir(parents=True)
    args = {"export": ["--out", tmp_path / "out"],
            "validate": ["--exports", project / "exports", "--hls-projects",
                         tmp_path / "hls_projects", "--hls-metrics", hls_metrics,
                         "--plots", tmp_path / "plots" / "tiny"]}[name]
    message = one_error_line(*stage(name, [
        "tiny", "--params", project / "params.yaml", "--models", models, "--data",
        project / "dataset", "--metrics", tmp_path / "m.json", *args], monkeypatch,
        capsys)[::2])
    assert re.fullmatch(
        rf"{model}: cannot load the trained model \({reason}\); expected the Keras HDF5 model "
        rf"the train stage writes \(run it again\)", message), message


def report_figures(project: Path) -> dict[str, float]:
    """Every figure the report's table and plot read, each 1.0."""

    class Recorder(dict):
        def __getitem__(self, key):
            self[key] = [1, 2] if key == "reuse_factors" else 1.0
            return self.get(key)

    design = Design("tiny", load_model_config(project / "configs" / "tiny.yaml"), "12",
                    Recorder())
    markdown([design], load_params(project / "params.yaml"), "plot.png")
    report_stage.point(design)
    for shape in report_stage.SHAPE_NAMES:
        design.figures[f"esr_{shape}"]
    return dict(design.figures)


def report_args(project: Path, metrics: Path, out: Path) -> list:
    return ["--params", project / "params.yaml", "--models-dir", project / "configs",
            "--metrics", metrics, "--models", project / "models", "--exports",
            project / "exports", "--out", out, "--summary", out.parent / "summary.json"]


FIGURES_CASES = {
    "not JSON": ('{"esr_corners": 0.1,', r"not valid JSON \(Expecting property name enclosed "
                                         r"in double quotes at line 1 column 21\); expected "
                                         r"the figures the {s} stage writes \(run it again\)"),
    "not an object": ("[0.1, 0.2]", r"expected a JSON object of figures the {s} stage writes "
                                    r"\(run it again\), got a list"),
    "a string figure": ('{"esr_corners": "low"}', r"esr_corners: expected a number or a list "
                                                  r"of numbers, got \"low\""),
    "a list of strings": ('{"reuse_factors": ["8"]}', r"reuse_factors: expected a number or a "
                                                     r"list of numbers, got \[\"8\"\]"),
    "not UTF-8": (b"\xff\xfe{}", r"not UTF-8 text; expected the figures the {s} stage "
                                 r"writes \(run it again\)"),
    "missing": (None, r"missing; expected the figures the {s} stage writes \(run it again\)"),
}


@pytest.mark.parametrize("case", [*FIGURES_CASES, "a figure missing"])
def test_report_stage_refuses_bad_figures_in_one_line(case, tmp_path, project, monkeypatch,
                                                      capsys):
    path = tmp_path / "metrics" / "tiny.json"
    for stage_name in ("rtl", "train"):
        (path.parent / stage_name).mkdir(parents=True)
        (path.parent / stage_name / "tiny.json").write_text(json.dumps(report_figures(project)))
    if case == "a figure missing":
        figures = report_figures(project)
        del figures["esr_edges"]
        (path.parent / "rtl" / "tiny.json").write_text(json.dumps(figures))
        content, expected = json.dumps(figures), r"no figure 'esr_edges'; expected the " \
            r"figures the train, validate, rtl and synth stages write \(run them again for " \
            r"tiny\)"
    else:
        content, expected = FIGURES_CASES[case]
        expected = expected.format(s="validate")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    message = one_error_line(*stage("report", report_args(project, path.parent,
                                                           tmp_path / "reports"),
                                    monkeypatch, capsys)[::2])
    assert re.fullmatch(rf"{path}: {expected}", message), message
    assert not (tmp_path / "reports").exists()


def test_report_stage_writes_a_report_from_complete_figures(tmp_path, project, monkeypatch,
                                                            capsys):
    path = tmp_path / "metrics" / "tiny.json"
    (path.parent / "rtl").mkdir(parents=True)
    (path.parent / "train").mkdir()
    for written in (path, path.parent / "rtl" / "tiny.json", path.parent / "train" / "tiny.json"):
        written.write_text(json.dumps(report_figures(project)))
    status, _, err = stage("report", report_args(project, path.parent, tmp_path / "reports"),
                           monkeypatch, capsys)
    assert status == 0, err
    assert "| `tiny` |" in (tmp_path / "reports" / "comparison.md").read_text()
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "tiny": {"esr_corners": 1.0, "ecp5_mult18": 1.0, "ecp5_lut4": 1.0}}


@pytest.mark.parametrize("case", FIGURES_CASES)
def test_validate_stage_refuses_bad_hls_figures_in_one_line(case, tmp_path, project,
                                                            monkeypatch, capsys):
    path = tmp_path / "hls.json"
    content, expected = FIGURES_CASES[case]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    (tmp_path / "hls_projects" / "tiny").mkdir(parents=True)
    message = one_error_line(*stage("validate", [
        "tiny", "--params", project / "params.yaml", "--models", project / "models",
        "--exports", project / "exports", "--hls-projects", tmp_path / "hls_projects",
        "--hls-metrics", path, "--data", project / "dataset", "--metrics", tmp_path / "m.json",
        "--plots", tmp_path / "plots", "--audio", tmp_path / "audio"], monkeypatch,
        capsys)[::2])
    assert re.fullmatch(rf"{path}: {expected.format(s='hls')}", message), message


def test_a_later_stage_without_the_model_run_logs_to_a_new_one_and_says_so(
        tmp_path, project, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path}/empty.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = project / "models" / "tiny" / "model.h5"
    status, out, err = stage("export", [
        "tiny", "--params", project / "params.yaml", "--models", project / "models", "--data",
        project / "dataset", "--out", tmp_path / "out", "--metrics", tmp_path / "m.json"],
        monkeypatch, capsys)
    assert status == 0, err
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    digest = tracking.file_sha256(model)
    assert f"export tiny: the tracking store {uri} has no run of {model} (sha256 " \
           f"{digest[:12]}); logging to a new run {run.info.run_id}" in out
    assert run.data.tags[tracking.MODEL_HASH_TAG] == digest
    assert run.data.tags["stage"] == "export" and run.info.status == "FINISHED"
    assert set(run.data.metrics) == {"reference_saturations", "reference_overflows",
                                     "reference_differing_words", "reference_max_lsb"}
    assert run.data.tags["kind"] == "training"


# ---------------------------------------------------------------- MLflow runs: signals, kills


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
LONG_TRAINING = {"train.epochs": 100_000, "train.early_stopping_patience": 100_000,
                 "train.steps_per_epoch": 20}


# Start a Python command with SIGINT at the given disposition, whatever this process's is:
# a signal ignored here (pytest started by nohup, `&` in a script, some CI runners) stays
# ignored across fork and exec, and Python then installs no SIGINT handler of its own. A
# Python handler is reset to the default by exec, so setting the disposition and exec'ing
# is enough. (`restore_signals` does not reset SIGINT, and `preexec_fn` is unsafe here: the
# stages are started from threads.)
WITH_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.{}); "
               "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def with_sigint(disposition: str, *args: str) -> list[str]:
    """The command `python *args`, started with SIGINT at `disposition` (SIG_DFL, SIG_IGN)."""
    return [sys.executable, "-c", WITH_SIGINT.format(disposition), *args]


def epoch_numbers(lines: list[str]) -> list[int]:
    return [int(m[1]) for line in lines if (m := re.search(r" epoch (\d+)/", line))]


@pytest.fixture(scope="module")
def signalled(project, tmp_path_factory):
    """The train stage on the tiny config, planned for 100,000 epochs, in two processes
    side by side, each sent its signal as soon as its first epoch line appears."""
    folder = tmp_path_factory.mktemp("signalled")
    params = write_yaml(folder / "params.yaml", small_params(**LONG_TRAINING))
    results = {}

    def run(name: str) -> None:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/{name}.db"}
        process = subprocess.Popen(
            with_sigint(
                "SIG_DFL", "-m", "pipeline.stages.train", "tiny", "--params", str(params),
                "--models-dir", str(project / "configs"), "--data", str(project / "dataset"),
                "--out", str(folder / name / "tiny"), "--metrics", str(folder / f"{name}.json"),
                "--root", str(folder)),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        for line in process.stdout:
            lines.append(line)
            if " epoch " in line:
                break
        process.send_signal(SIGNALS[name])
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        client = MlflowClient(f"sqlite:///{folder}/{name}.db")
        (tracked,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT)
                                         .experiment_id])
        results[name] = (process.returncode, lines + out.splitlines(), err, tracked, folder)

    threads = [threading.Thread(target=run, args=(name,)) for name in SIGNALS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_promptly_and_marks_its_run_killed(name, signalled):
    status, lines, err, run, folder = signalled[name]
    assert status == 128 + SIGNALS[name], err
    assert err.strip().splitlines()[-1] == f"stopped by {name}; unfinished outputs were removed"
    assert "Traceback" not in err
    # Each restart stops at its next epoch boundary, nowhere near the planned 100,000.
    assert epoch_numbers(lines)[0] == 1 and max(epoch_numbers(lines)) <= 100
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert run.data.tags["stage"] == "train" and run.data.tags["pid"].isdigit()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(name)) == [
        f"{name}.db"]  # no model folder, no metrics file, no staging


IGNORING_STAGE = textwrap.dedent("""
    import signal, sys, time
    from pipeline.errors import run_stage

    def main():
        print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
        time.sleep(60)

    run_stage(main)
""")


def test_a_signal_ignored_when_a_stage_starts_stays_ignored_and_sigterm_still_stops_it():
    """nohup and background jobs of a script start a stage with SIGINT ignored: a Ctrl-C
    meant for the foreground must not stop it, so the stage installs no SIGINT handler."""
    process = subprocess.Popen(with_sigint("SIG_IGN", "-c", IGNORING_STAGE), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "True"
        process.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)  # still sleeping: the SIGINT was ignored
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["stopped by SIGTERM; unfinished outputs were removed"]


HOLD_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipeline import tracking
    with tracking.start_run(Path(sys.argv[1]), "waveshaper", "tiny", "train") as run:
        print(run.info.run_id, flush=True)
        time.sleep(60)
""")


def test_a_run_left_running_by_sigkill_is_marked_killed_by_the_next_run(tmp_path,
                                                                        monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    orphan = holder.stdout.readline().strip()
    holder.kill()  # SIGKILL: no handler runs, the run stays RUNNING
    holder.wait()
    client = MlflowClient(uri)
    assert client.get_run(orphan).info.status == "RUNNING"
    experiment_id = client.get_run(orphan).info.experiment_id
    alive = client.create_run(experiment_id, tags=tracking.process_tags())  # this process
    reused = client.create_run(experiment_id, tags={**tracking.process_tags(),
                                                    "pid_started": "1.00"})
    other_host = client.create_run(experiment_id, tags={
        **client.get_run(orphan).data.tags, "host": "elsewhere"})
    with tracking.start_run(tmp_path, EXPERIMENT, "tiny", "train") as next_run:
        pass
    status_of = {r.info.run_id: r.info.status for r in client.search_runs([experiment_id])}
    assert status_of[orphan] == RunStatus.to_string(RunStatus.KILLED)
    assert status_of[reused.info.run_id] == "KILLED"  # the same pid, another process
    assert status_of[alive.info.run_id] == "RUNNING"
    assert status_of[other_host.info.run_id] == "RUNNING"  # not ours to judge
    assert status_of[next_run.info.run_id] == "FINISHED"


# ---------------------------------------------------------------- the model folder's hash


def test_training_twice_gives_the_same_model_folder_and_one_link_to_each_run(
        tmp_path, project, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    folders = [tmp_path / name / "tiny" for name in ("first", "second")]
    for folder in folders:
        status, _, err = stage("train", [
            "tiny", "--params", project / "params.yaml", "--models-dir", project / "configs",
            "--data", project / "dataset", "--out", folder, "--metrics",
            folder.parent / "metrics.json", "--root", tmp_path], monkeypatch, capsys)
        assert status == 0, err
    first, second = (listing(folder) for folder in folders)
    assert first == second
    assert MARKER in first and not any("run" in name for name in first)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert len(runs) == 2 and {r.data.tags[tracking.MODEL_HASH_TAG] for r in runs} == {
        tracking.file_sha256(folders[0] / "model.h5")}
