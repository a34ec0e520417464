"""Synthesised dataset: determinism, splits, held-out frequencies, manifest."""

import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.config import load_params
from pipeline.data.dataset import load_split, read_manifest
from pipeline.data.synth import allowed_bands, plan_segments
from tests.conftest import ROOT, small_params, write_yaml


def collect(params: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.stages.collect", "--params",
                           str(params), "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_config_gives_the_same_bytes(tmp_path, params_file):
    first, second = tmp_path / "a", tmp_path / "b"
    assert collect(params_file, first).returncode == 0
    assert collect(params_file, second).returncode == 0
    digest = tree_digest(first)
    assert len(digest) == 2 + 2 * (12 + 4 + 16)  # manifest, output marker, WAVs
    assert digest == tree_digest(second)


def test_another_seed_gives_other_data(tmp_path, params_file):
    other = write_yaml(tmp_path / "other.yaml", small_params(seed=1))
    assert collect(params_file, tmp_path / "a").returncode == 0
    assert collect(other, tmp_path / "b").returncode == 0
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "b")


def test_splits_are_disjoint_and_heldout_bands_are_test_only(params_file):
    params = load_params(params_file)
    config = params.data.synth
    segments = plan_segments(config, params.data.sample_rate, params.seed)
    ids = [s.id for s in segments]
    assert len(ids) == len(set(ids))
    files = [s.input_file for s in segments] + [s.target_file for s in segments]
    assert len(files) == len(set(files))
    bands = config.heldout_bands_hz
    for segment in segments:
        low, high = sorted((segment.freq_start_hz, segment.freq_end_hz))
        inside = [b for b in bands if b[0] <= low and high <= b[1]]
        overlaps = [b for b in bands if low < b[1] and high > b[0]]
        if segment.heldout_freq:
            assert segment.split == "test" and inside
        else:
            assert not overlaps, segment
    test = [s for s in segments if s.split == "test"]
    assert any(s.heldout_freq for s in test) and not all(s.heldout_freq for s in test)


def test_allowed_bands_cut_out_the_heldout_bands(params_file):
    config = load_params(params_file).data.synth
    low, high = config.frequency_range_hz
    bands = allowed_bands(config)
    assert bands[0][0] == low and bands[-1][1] == high
    for (_, end), (start, _) in itertools.pairwise(bands):
        assert [end, start] in config.heldout_bands_hz
    assert sum(np.log(b / a) for a, b in bands) < np.log(high / low)


def test_default_frequency_range_covers_30hz_to_2khz():
    synth = load_params(ROOT / "params.yaml").data.synth
    assert synth.frequency_range_hz[0] <= 30 and synth.frequency_range_hz[1] >= 2000


def test_manifest_describes_every_segment(tmp_path, params_file):
    out = tmp_path / "ds"
    result = collect(params_file, out)
    assert result.returncode == 0, result.stderr
    segments = read_manifest(out)
    kinds = {s.kind for s in segments}
    assert kinds == {"corner", "edge"}
    for segment in segments:
        audio, rate = sf.read(out / segment.target_file)
        assert rate == segment.sample_rate == 48000 and len(audio) == segment.samples
        if segment.kind == "corner":
            assert segment.mix == 1.0 and "+" not in segment.shape
        else:  # embedding interpolated linearly with the same mix as the audio
            assert 0 <= segment.mix <= 1 and "+" in segment.shape
            assert max(abs(segment.e0), abs(segment.e1)) == 1.0
    shapes = {s.shape for s in segments if s.kind == "corner" and s.split == "test"}
    assert shapes == {"sine", "ramp", "square", "zigzag"}
    test = load_split(out, "test")
    assert test.inputs[0].shape == (2400, 3) and test.targets[0].shape == (2400, 1)
    assert np.all(test.inputs[0][:, 1] == test.segments[0].e0)


def test_interrupted_collect_leaves_no_output(tmp_path, params_file, monkeypatch):
    import pytest

    from pipeline.data import dataset, synth

    params = load_params(params_file)

    def failing():
        yield from synth.synthesize(params.data.synth, 48000, 0)
        raise KeyboardInterrupt

    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        dataset.write_dataset(out, failing())
    assert list(tmp_path.iterdir()) == [params_file]
