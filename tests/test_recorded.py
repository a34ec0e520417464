"""Importing recorded pairs: what is measured, what is refused (one line naming the file,
nothing written) and what is corrected, on synthesised "recordings" with known faults."""

import csv
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from pipeline.config import RecordedConfig, SplitFractions, load_params
from pipeline.data import waveforms
from pipeline.data.alignment import measure, reference_target
from pipeline.data.dataset import MANIFEST, MANIFEST_COLUMNS, read_manifest, write_dataset
from pipeline.data.recorded import load_pairs
from pipeline.data.segments import segment_pairs
from pipeline.data.synth import glide, shaped_wave
from pipeline.errors import ConfigError, DataError
from tests.conftest import ROOT, small_params, write_yaml

RATE = 48000
SHAPES = {"sine": (-1.0, -1.0), "ramp": (-1.0, 1.0), "square": (1.0, 1.0),
          "zigzag": (1.0, -1.0)}
START_HZ, END_HZ = 80.0, 480.0


def exact(shape: str, seconds: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A gliding triangle of amplitude 1 and its shape, exactly as synthesised."""
    freq = glide(START_HZ, END_HZ, int(seconds * RATE))
    phase = waveforms.oscillator_phase(freq, RATE, 0.2)
    return waveforms.triangle(phase), shaped_wave(shape, 1.0, phase, freq / RATE, "polyblep")


def delayed(wave: np.ndarray, delay: int) -> np.ndarray:
    """`wave` later by `delay` samples (earlier when negative), zero-filled."""
    if delay >= 0:
        return np.concatenate([np.zeros(delay), wave[: len(wave) - delay]])
    return np.concatenate([wave[-delay:], np.zeros(-delay)])


def recording(shape: str, seconds: float = 0.5, delay: int = 0):
    """A 'recorded' pair: the exact pair at 0.9 of full scale, the target `delay` later."""
    core, target = exact(shape, seconds)
    return 0.9 * core, delayed(0.9 * target, delay)


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


def config(folder: Path, **overrides) -> RecordedConfig:
    settings = dict(dir=str(folder), segment_seconds=0.05,
                    split_fractions=SplitFractions(train=0.8, validation=0.1, test=0.1),
                    clip_level=0.999, max_latency_samples=64, latency="refuse")
    return RecordedConfig(**{**settings, **overrides})


def good_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "rec", {s: recording(s) for s in SHAPES})


def import_folder(recorded: RecordedConfig):
    return segment_pairs(load_pairs(recorded, RATE), recorded, RATE, seed=3)


def test_good_pairs_import_into_segments(tmp_path):
    folder = good_folder(tmp_path)
    pairs = load_pairs(config(folder), RATE)
    for pair in pairs:
        m = pair.measured
        assert (m.latency_samples, m.input_polarity, m.target_polarity) == (0, 1, 1)
        assert m.fit_esr < 0.01  # the naive reference against PolyBLEP'd jumps
    items = segment_pairs(pairs, config(folder), RATE, seed=3)
    assert len(items) == 4 * 10
    splits = [segment.split for segment, _, _ in items]
    assert splits.count("test") == 4 and splits.count("validation") == 4
    kinds = {(segment.kind, segment.shape) for segment, _, _ in items}
    assert kinds == {("corner", s) for s in SHAPES}
    for segment, core, target in items:
        assert len(core) == len(target) == segment.samples == 2400
        assert START_HZ <= segment.freq_start_hz <= END_HZ
        assert segment.fit_esr == next(p for p in pairs if segment.id.endswith(p.name)
                                       ).measured.fit_esr


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("delay", [0, 3, 17, -9, 100, -120])
@pytest.mark.parametrize("sign", [1, -1])
def test_latency_and_polarity_are_measured_not_clamped(shape, delay, sign):
    """Beyond max_latency_samples (64) and negative lags are measured as they are, so that
    they can be refused for what they are; an inverted target is a polarity, not a lag."""
    core, target = recording(shape)
    m = measure(core, sign * np.roll(target, delay), *SHAPES[shape], max_latency=64,
                max_fit_esr=0.1)
    assert (m.latency_samples, m.target_polarity, m.input_polarity) == (delay, sign, 1)


# ---------------------------------------------------------------- refused: one line each


def _write(folder: Path, name: str, wave: np.ndarray) -> None:
    sf.write(folder / name, wave, RATE, subtype="FLOAT")


def _edit_manifest(folder: Path, old: str, new: str) -> None:
    (folder / "pairs.csv").write_text((folder / "pairs.csv").read_text().replace(old, new))


_CORE, _TARGET = recording("ramp")
_NOISE = np.clip(0.2 * np.random.default_rng(1).standard_normal(len(_CORE)), -0.9, 0.9)

# problem: (plant it in the ramp pair of a good folder, config overrides, expected error)
REFUSED = {
    "rate": (lambda f: sf.write(f / "ramp_out.wav", _TARGET, 44100, subtype="FLOAT"), {},
             r"ramp_out\.wav: sample rate 44100 Hz, expected 48000 Hz"),
    "stereo": (lambda f: _write(f, "ramp_out.wav", np.stack([_TARGET, _TARGET], 1)), {},
               r"ramp_out\.wav: 2 channels, expected 1 \(mono\)"),
    "length": (lambda f: _write(f, "ramp_out.wav", _TARGET[:-100]), {},
               r"ramp_out\.wav: 23900 samples but its input .*ramp_in\.wav has 24000"),
    "nan": (lambda f: _write(f, "ramp_out.wav", np.where(np.arange(len(_TARGET)) == 500,
                                                         np.nan, _TARGET)), {},
            r"ramp_out\.wav: 1 non-finite samples .* first at sample 500"),
    "clipping": (lambda f: _write(f, "ramp_in.wav", np.clip(_CORE * 1.2, -1, 1)), {},
                 r"ramp_in\.wav: \d+ samples at or above the clip level 0\.999"),
    "missing": (lambda f: (f / "ramp_out.wav").unlink(), {},
                r"ramp_out\.wav: cannot read as a WAV file"),
    "empty wav": (lambda f: _write(f, "ramp_in.wav", np.zeros(0)), {},
                  r"ramp_in\.wav: empty \(0 samples\); expected a recording"),
    "silent input": (lambda f: _write(f, "ramp_in.wav", np.zeros(len(_CORE))), {},
                     r"ramp_in\.wav: silent \(peak 0, below 0\.0001\); expected a triangle"),
    "silent target": (lambda f: _write(f, "ramp_out.wav", 1e-5 * _TARGET), {},
                      r"ramp_out\.wav: silent \(peak 9e-06, below 0\.0001\); expected the "
                      "shaped wave"),
    "flat input": (lambda f: _write(f, "ramp_in.wav", np.full(len(_CORE), 0.3)), {},
                   r"ramp_in\.wav: flat \(constant at 0\.3, peak-to-peak 0\); expected a "
                   "triangle wave"),
    "half a cycle": (lambda f: _write(f, "ramp_in.wav", np.linspace(-0.5, 0.5, len(_CORE))),
                     {}, r"ramp_in\.wav: no full cycle of oscillation"),
    "embedding": (lambda f: _edit_manifest(f, "ramp_out.wav,-1.0,1.0", "ramp_out.wav,-1.0,up"),
                  {}, r"pairs\.csv: line 3: e1 is 'up', expected a number in \[-1, 1\]"),
    "columns": (lambda f: (f / "pairs.csv").write_text("input,target\nramp_in.wav,ramp_out.wav\n"),
                {}, r"pairs\.csv: missing column\(s\) e0, e1"),
    "empty cell": (lambda f: _edit_manifest(f, "ramp_in.wav,ramp_out.wav", "ramp_in.wav,"), {},
                   r"pairs\.csv: line 3: target is empty, expected a WAV file name"),
    "not utf-8": (lambda f: (f / "pairs.csv").write_bytes((f / "pairs.csv").read_bytes() + b"\xe9"),
                  {},
                  r"pairs\.csv: not UTF-8 text \(byte 0xe9 at offset \d+\); expected a UTF-8"),
    "misaligned": (lambda f: _write(f, "ramp_out.wav", delayed(_TARGET, 5)), {},
                   r"ramp_out\.wav: lags its input by 5 samples .*expected 0 \(set "
                   r"data\.recorded\.latency: align"),
    "delay beyond max": (lambda f: _write(f, "ramp_out.wav", delayed(_TARGET, 100)),
                         {"latency": "align"},
                         r"ramp_out\.wav: lags its input by 100 samples .*more than "
                         "max_latency_samples; expected at most 64"),
    "leads": (lambda f: _write(f, "ramp_out.wav", delayed(_TARGET, -20)), {"latency": "align"},
              r"ramp_out\.wav: leads its input by 20 samples .*impossible for a causal device"),
    "inverted, refuse": (lambda f: _write(f, "ramp_out.wav", -_TARGET), {"polarity": "refuse"},
                         r"ramp_out\.wav: inverted \(polarity -1 .*expected \+1"),
    "inverted input, refuse": (lambda f: (_write(f, "ramp_in.wav", -_CORE),
                                          _write(f, "ramp_out.wav", -_TARGET)),
                               {"polarity": "refuse"},
                               r"ramp_in\.wav: inverted \(polarity -1 .*expected \+1"),
    "wrong shape": (lambda f: _write(f, "ramp_out.wav", recording("square")[1]),
                    {"latency": "align"},
                    r"ramp_out\.wav: does not fit the shape expected at \(e0, e1\) = \(-1, 1\): "
                    r"fit error-to-signal 0\.2\d, expected at most 0\.1 .*it fits the square "
                    r"corner \(e0, e1\) = \(1, 1\)"),
    "noise": (lambda f: _write(f, "ramp_out.wav", _NOISE), {"latency": "align"},
              r"ramp_out\.wav: does not fit .*error-to-signal 1, .*likely noise or an "
              "unrelated signal"),
    "segment shorter than 2 samples": (lambda f: None, {"segment_seconds": 1e-6},
                                       r"data\.recorded\.segment_seconds: 1e-06 s is 0 samples "
                                       "at 48000 Hz; expected at least 2 samples"),
    "train split empty": (lambda f: None, {"segment_seconds": 0.12, "split_fractions":
                                           SplitFractions(train=0.02, validation=0.49, test=0.49)},
                          r"rec: split_fractions \(train 0\.02, validation 0\.49, test 0\.49\) of "
                          r"the 16 segments the recordings give leave train 0, validation 8, "
                          "test 8; expected at least one segment in every split"),
}


def _plant(tmp_path: Path, problem: str) -> Path:
    folder = good_folder(tmp_path)
    REFUSED[problem][0](folder)
    return folder


@pytest.mark.parametrize("problem", list(REFUSED))
def test_each_problem_is_a_one_line_error(tmp_path, problem):
    folder = _plant(tmp_path, problem)
    _, overrides, expected = REFUSED[problem]
    with pytest.raises(DataError, match=expected) as caught:
        import_folder(config(folder, **overrides))
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- accepted and corrected


def _unit_fit_bounds(core_levelled: np.ndarray, shape_exact: np.ndarray, e0: float, e1: float,
                     gain: float) -> tuple[float, float]:
    """Bounds on the fitted gain's and offset's errors for a target gain · shape + offset:
    the reference differs from the exact shape by d, so by Cauchy-Schwarz the slope is off by
    at most gain·|d - mean d| / |ref - mean ref|, and the offset by gain·|mean d| plus that
    times |mean ref|."""
    ref = reference_target(core_levelled, e0, e1)
    d = shape_exact - ref
    slope_error = gain * np.linalg.norm(d - d.mean()) / np.linalg.norm(ref - ref.mean())
    return slope_error, gain * abs(d.mean()) + slope_error * abs(ref.mean())


def test_gain_and_offset_are_measured_and_normalised(tmp_path):
    core, shape = exact("ramp")
    in_gain, in_offset, gain, offset = 0.7, -0.05, 0.5, 0.1
    folder = make_folder(tmp_path / "rec", {"ramp": (in_gain * core + in_offset,
                                                     gain * shape + offset)})
    (pair,) = load_pairs(config(folder), RATE)
    m = pair.measured
    # The sampled triangle's extremes fall short of its peaks by at most one sample's step.
    step = in_gain * 4 * END_HZ / RATE
    assert abs(m.input_gain - in_gain) <= step and abs(m.input_offset - in_offset) <= step
    recorded_core, _ = sf.read(folder / "ramp_in.wav")
    levelled = (recorded_core - m.input_offset) / m.input_gain
    gain_bound, offset_bound = _unit_fit_bounds(levelled, shape, -1.0, 1.0, gain)
    assert abs(m.target_gain - gain) <= gain_bound < 0.1 * gain
    assert abs(m.target_offset - offset) <= offset_bound < 0.01 * gain
    assert m.target_polarity == 1 and m.latency_samples == 0
    # Normalised to the synthesised convention: amplitude 1, no DC.
    np.testing.assert_allclose(pair.core.max(), 1.0, atol=1e-12)
    np.testing.assert_allclose(pair.core.min(), -1.0, atol=1e-12)
    error = np.abs(pair.target - shape).max()
    assert error <= (gain_bound + offset_bound) / m.target_gain * (1 + 1e-9) + 1e-6


def test_level_keep_leaves_the_samples_and_aligns_exactly(tmp_path):
    pairs = {s: recording(s) for s in SHAPES}
    pairs["square"] = recording("square", delay=12)
    folder = make_folder(tmp_path / "rec", pairs)
    aligned = load_pairs(config(folder, latency="align", level="keep"), RATE)
    square = next(p for p in aligned if p.name == "square_in")
    assert square.measured.latency_samples == 12
    core, _ = sf.read(folder / "square_in.wav")
    target, _ = sf.read(folder / "square_out.wav")
    assert np.array_equal(square.core, core[:-12]) and np.array_equal(square.target, target[12:])


# case: (recorded input, recorded target, config overrides, measured (in, out) polarity,
#        imported (input, target) as multiples of the exact pair)
ACCEPTED = {
    "inverted target, auto": (1, -1, {}, (1, -1), (1, 1)),
    "inverted target, keep": (1, -1, {"polarity": "keep"}, (1, -1), (1, -1)),
    "both channels inverted, auto": (-1, -1, {}, (-1, -1), (1, 1)),
    "input inverted, keep": (-1, 1, {"polarity": "keep"}, (-1, 1), (-1, 1)),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_polarity_is_measured_and_handled(tmp_path, case):
    """The ramp is the shape that tells an inverted input from an inverted target."""
    in_sign, out_sign, overrides, measured, imported = ACCEPTED[case]
    core, shape = exact("ramp")
    folder = make_folder(tmp_path / "rec", {"ramp": (0.9 * in_sign * core,
                                                     0.9 * out_sign * shape)})
    (pair,) = load_pairs(config(folder, **overrides), RATE)
    m = pair.measured
    assert (m.input_polarity, m.target_polarity) == measured
    assert m.fit_esr < 0.01
    recorded_core, _ = sf.read(folder / "ramp_in.wav")
    levelled = (recorded_core - m.input_offset) / m.input_gain
    gain_bound, offset_bound = _unit_fit_bounds(in_sign * levelled, shape, -1.0, 1.0, 0.9)
    target_bound = (gain_bound + offset_bound) / m.target_gain * (1 + 1e-9) + 1e-6
    core_bound = abs(1 - 0.9 / m.input_gain) + abs(m.input_offset) / m.input_gain + 1e-6
    assert np.abs(pair.core - imported[0] * core).max() <= core_bound
    assert np.abs(pair.target - imported[1] * shape).max() <= target_bound


def test_a_byte_order_mark_is_accepted(tmp_path):
    folder = good_folder(tmp_path)
    (folder / "pairs.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "pairs.csv").read_bytes())
    assert [p.e0 for p in load_pairs(config(folder), RATE)] == [-1.0, -1.0, 1.0, 1.0]


def test_the_same_recordings_give_the_same_bytes_and_manifest_columns(tmp_path):
    folder = good_folder(tmp_path)
    digests = []
    for out in (tmp_path / "a", tmp_path / "b"):
        write_dataset(out, import_folder(config(folder)))
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    # manifest.csv, the output marker and an input and a target WAV per segment
    assert digests[0] == digests[1] and len(digests[0]) == 2 + 2 * 40
    segments = read_manifest(tmp_path / "a")
    measured = {s.id.split("-", 2)[2]: (s.latency_samples, s.target_polarity, s.fit_esr)
                for s in segments}
    pairs = {p.name: p.measured for p in load_pairs(config(folder), RATE)}
    assert measured == {name: (m.latency_samples, m.target_polarity, m.fit_esr)
                        for name, m in pairs.items()}


def test_a_manifest_without_the_recording_columns_reads_with_synthesised_values(tmp_path):
    folder = good_folder(tmp_path)
    write_dataset(tmp_path / "d", import_folder(config(folder)))
    path = tmp_path / "d" / MANIFEST
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = MANIFEST_COLUMNS.index("target_file") + 1
    path.write_text("\n".join(",".join(row[:kept]) for row in rows) + "\n")
    segment = read_manifest(tmp_path / "d")[0]
    assert (segment.latency_samples, segment.target_gain, segment.fit_esr) == (0, 1.0, 0.0)
    path.write_text("\n".join(",".join(row[1:]) for row in rows) + "\n")
    with pytest.raises(DataError, match=r"manifest\.csv: no column id; expected"):
        read_manifest(tmp_path / "d")


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(("override", "expected"), [
    ({"polarity": "flip"}, r"data\.recorded\.polarity: Input should be 'auto', 'keep' or "
                           "'refuse' \\(got 'flip'\\)"),
    ({"level": "loud"}, r"data\.recorded\.level: Input should be 'normalise' or 'keep'"),
    ({"max_fit_esr": 1.5}, r"data\.recorded\.max_fit_esr: Input should be less than 1"),
    ({"max_fit_esr": 0.0}, r"data\.recorded\.max_fit_esr: Input should be greater than 0"),
    ({"level": "keep"}, r"data: source 'both' needs recorded\.level: normalise"),
])
def test_recorded_config_errors_name_the_field(tmp_path, override, expected):
    recorded = {"dir": "rec", "segment_seconds": 0.05,
                "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "clip_level": 0.999, "max_latency_samples": 64, **override}
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(**{"data.source": "both", "data.recorded": recorded}))
    with pytest.raises(ConfigError, match=expected) as caught:
        load_params(params)
    assert "\n" not in str(caught.value)


def test_the_commented_block_in_params_yaml_is_a_valid_recorded_section(tmp_path):
    """The block documents every field; uncommented, it must load as it stands."""
    text = (ROOT / "params.yaml").read_text()
    block = re.search(r"^  # recorded:\n((?:  #   .*\n)+)", text, re.MULTILINE)
    section = yaml.safe_load("\n".join(line[6:] for line in block.group(1).splitlines()))
    assert set(section) == set(RecordedConfig.model_fields)
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(**{"data.source": "both", "data.recorded": section}))
    assert load_params(params).data.recorded == RecordedConfig(**{
        **section, "split_fractions": SplitFractions(**section["split_fractions"])})


# ---------------------------------------------------------------- the collect stage


def collect(tmp_path: Path, folder: Path) -> subprocess.CompletedProcess:
    recorded = {"dir": str(folder), "segment_seconds": 0.05,
                "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "clip_level": 0.999, "max_latency_samples": 64, "latency": "refuse"}
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(**{"data.source": "both", "data.recorded": recorded}))
    return subprocess.run([sys.executable, "-m", "pipeline.stages.collect", "--params",
                           str(params), "--out", str(tmp_path / "out" / "dataset")], cwd=ROOT,
                          capture_output=True, text=True)


def test_collect_stage_refuses_and_writes_nothing(tmp_path):
    folder = _plant(tmp_path, "leads")
    result = collect(tmp_path, folder)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "ramp_out.wav: leads" in lines[0]
    assert not (tmp_path / "out").exists()


def test_collect_stage_imports_recorded_and_synthesised(tmp_path):
    folder = make_folder(tmp_path / "rec", {"ramp": (0.9 * exact("ramp")[0],
                                                     -0.5 * exact("ramp")[1] + 0.1)})
    result = collect(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    table = result.stdout.splitlines()
    assert table[0].split()[:4] == ["input", "e0", "e1", "latency"]
    assert table[1].split()[:5] == ["ramp_in.wav", "-1", "1", "0", "+1/-1"]
    segments = read_manifest(tmp_path / "out" / "dataset")
    recorded = [s for s in segments if s.source == "recorded"]
    synthesised = [s for s in segments if s.source == "synth"]
    assert len(recorded) == 10 and len(synthesised) == 32
    assert {s.target_polarity for s in recorded} == {-1}
    assert {(s.latency_samples, s.target_polarity, s.target_gain, s.fit_esr)
            for s in synthesised} == {(0, 1, 1.0, 0.0)}
