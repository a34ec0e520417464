"""Importing recorded pairs: every error case is one line naming the file; nothing is written."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline import waveforms
from pipeline.config import RecordedConfig, SplitFractions
from pipeline.dataset import read_manifest
from pipeline.errors import DataError
from pipeline.recorded import estimate_latency, load_pairs, segment_pairs
from pipeline.synth import glide, shaped_wave
from tests.conftest import ROOT, small_params, write_yaml

RATE = 48000
SHAPES = {"sine": (-1.0, -1.0), "ramp": (-1.0, 1.0), "square": (1.0, 1.0),
          "zigzag": (1.0, -1.0)}


def recording(shape: str, seconds: float = 0.5, delay: int = 0, start_hz: float = 80.0):
    """A 'recorded' pair: a gliding triangle and its shape at 0.9 of full scale."""
    freq = glide(start_hz, start_hz * 6, int(seconds * RATE))
    phase = waveforms.oscillator_phase(freq, RATE, 0.2)
    core = 0.9 * waveforms.triangle(phase)
    target = 0.9 * shaped_wave(shape, 1.0, phase, freq / RATE, "polyblep")
    if delay:
        target = np.concatenate([np.zeros(delay), target[:-delay]])
    return core, target


def make_folder(folder: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]],
                rate: int = RATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["input,target,e0,e1,label"]
    for shape, (core, target) in pairs.items():
        sf.write(folder / f"{shape}_in.wav", core, rate, subtype="FLOAT")
        sf.write(folder / f"{shape}_out.wav", target, rate, subtype="FLOAT")
        e0, e1 = SHAPES[shape]
        rows.append(f"{shape}_in.wav,{shape}_out.wav,{e0},{e1},")
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    return folder


def config(folder: Path, latency: str = "refuse") -> RecordedConfig:
    return RecordedConfig(dir=str(folder), segment_seconds=0.05,
                          split_fractions=SplitFractions(train=0.8, validation=0.1, test=0.1),
                          clip_level=0.999, max_latency_samples=64, latency=latency)


def good_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "rec", {s: recording(s) for s in SHAPES})


def test_good_pairs_import_into_segments(tmp_path):
    folder = good_folder(tmp_path)
    pairs = load_pairs(config(folder), RATE)
    assert [p.latency for p in pairs] == [0, 0, 0, 0]
    items = segment_pairs(pairs, config(folder), RATE, seed=3)
    assert len(items) == 4 * 10
    splits = [segment.split for segment, _, _ in items]
    assert splits.count("test") == 4 and splits.count("validation") == 4
    kinds = {(segment.kind, segment.shape) for segment, _, _ in items}
    assert kinds == {("corner", s) for s in SHAPES}
    for segment, core, target in items:
        assert len(core) == len(target) == segment.samples == 2400
        assert 80 <= segment.freq_start_hz <= 480


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("delay", [0, 3, 17, -9])
def test_latency_estimate_finds_the_delay(shape, delay):
    core, target = recording(shape)
    shifted = np.roll(target, delay)
    assert estimate_latency(core, shifted, *SHAPES[shape], max_lag=64) == delay


def test_misaligned_pair_is_refused_or_aligned(tmp_path):
    pairs = {s: recording(s) for s in SHAPES}
    pairs["square"] = recording("square", delay=12)
    folder = make_folder(tmp_path / "rec", pairs)
    with pytest.raises(DataError, match=r"square_out\.wav: lags its input by 12 samples"):
        load_pairs(config(folder), RATE)
    aligned = load_pairs(config(folder, latency="align"), RATE)
    square = next(p for p in aligned if p.name == "square_in")
    assert square.latency == 12
    core, target = recording("square")
    np.testing.assert_allclose(square.target, target[: len(target) - 12], atol=1e-7)
    np.testing.assert_allclose(square.core, core[: len(core) - 12], atol=1e-7)


def broken(tmp_path: Path, problem: str) -> Path:
    """A folder of good pairs with one `problem` planted in the ramp pair."""
    folder = good_folder(tmp_path)
    core, target = recording("ramp")
    if problem == "rate":
        sf.write(folder / "ramp_out.wav", target, 44100, subtype="FLOAT")
    elif problem == "stereo":
        sf.write(folder / "ramp_out.wav", np.stack([target, target], 1), RATE, subtype="FLOAT")
    elif problem == "length":
        sf.write(folder / "ramp_out.wav", target[:-100], RATE, subtype="FLOAT")
    elif problem == "nan":
        target[500] = np.nan
        sf.write(folder / "ramp_out.wav", target, RATE, subtype="FLOAT")
    elif problem == "clipping":
        sf.write(folder / "ramp_in.wav", np.clip(core * 1.2, -1, 1), RATE, subtype="FLOAT")
    elif problem == "misaligned":
        sf.write(folder / "ramp_out.wav", np.roll(target, 5), RATE, subtype="FLOAT")
    elif problem == "missing":
        (folder / "ramp_out.wav").unlink()
    elif problem == "embedding":
        text = (folder / "pairs.csv").read_text().replace("ramp_out.wav,-1.0,1.0",
                                                            "ramp_out.wav,-1.0,up")
        (folder / "pairs.csv").write_text(text)
    elif problem == "columns":
        (folder / "pairs.csv").write_text("input,target\nramp_in.wav,ramp_out.wav\n")
    return folder


ERRORS = {
    "rate": r"ramp_out\.wav: sample rate 44100 Hz, expected 48000 Hz",
    "stereo": r"ramp_out\.wav: 2 channels, expected 1 \(mono\)",
    "length": r"ramp_out\.wav: 23900 samples but its input .*ramp_in\.wav has 24000",
    "nan": r"ramp_out\.wav: 1 non-finite samples .* first at sample 500",
    "clipping": r"ramp_in\.wav: \d+ samples at or above the clip level 0\.999",
    "misaligned": r"ramp_out\.wav: lags its input by 5 samples",
    "missing": r"ramp_out\.wav: cannot read as a WAV file",
    "embedding": r"pairs\.csv: line 3: e1 is 'up', expected a number in \[-1, 1\]",
    "columns": r"pairs\.csv: missing column\(s\) e0, e1",
}


@pytest.mark.parametrize("problem", list(ERRORS))
def test_each_problem_is_a_one_line_error(tmp_path, problem):
    folder = broken(tmp_path, problem)
    with pytest.raises(DataError, match=ERRORS[problem]) as caught:
        load_pairs(config(folder), RATE)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("problem", ["stereo", "misaligned"])
def test_collect_stage_refuses_and_writes_nothing(tmp_path, problem):
    folder = broken(tmp_path, problem)
    recorded = {"dir": str(folder), "segment_seconds": 0.05,
                "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "clip_level": 0.999, "max_latency_samples": 64, "latency": "refuse"}
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(**{"data.source": "both", "data.recorded": recorded}))
    out = tmp_path / "out" / "dataset"
    result = subprocess.run([sys.executable, "-m", "pipeline.stages.collect", "--params",
                             str(params), "--out", str(out)], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "ramp_" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.parent.exists()


def test_collect_stage_imports_recorded_and_synthesised(tmp_path):
    folder = good_folder(tmp_path)
    recorded = {"dir": str(folder), "segment_seconds": 0.05,
                "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "clip_level": 0.999, "max_latency_samples": 64, "latency": "refuse"}
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(**{"data.source": "both", "data.recorded": recorded}))
    out = tmp_path / "dataset"
    result = subprocess.run([sys.executable, "-m", "pipeline.stages.collect", "--params",
                             str(params), "--out", str(out)], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    sources = [s.source for s in read_manifest(out)]
    assert sources.count("recorded") == 40 and sources.count("synth") == 32
