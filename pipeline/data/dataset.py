"""The collected dataset on disk: WAV pairs plus `manifest.csv`, and loading it for training.

Layout of a dataset folder (written by the collect stage):

    manifest.csv                one row per segment, columns MANIFEST_COLUMNS
    audio/<split>/<id>_input.wav    mono core wave (32-bit float WAV)
    audio/<split>/<id>_target.wav   mono shaped wave
    .pipeline-output            marks the folder as the collect stage's (pipeline/outputs.py)

The embedding (e0, e1) is held constant over a segment, so it lives in the manifest, not in
audio. A segment belongs to exactly one split; training windows are cut inside segments, so
splits never share a window.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.errors import DataError
from pipeline.inputs import read_csv
from pipeline.outputs import staged_directory

MANIFEST = "manifest.csv"
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command that controls the PEAK chunk


def write_listening_wav(path: Path, wave: np.ndarray, sample_rate: int) -> None:
    """A 16-bit PCM mono WAV to listen to, clipped to full scale: the format every browser
    plays (MLflow's artifact player shows no waveform and plays nothing for float WAVs in
    Chromium)."""
    sf.write(path, np.clip(np.asarray(wave, dtype=np.float64), -1.0, 1.0 - 2.0**-15),
             sample_rate, subtype="PCM_16", format="WAV")


def write_wav(path: Path, wave: np.ndarray, sample_rate: int) -> None:
    """A 32-bit float mono WAV, the same bytes for the same samples.

    libsndfile stamps the time into the PEAK chunk of float WAVs; soundfile has no switch for
    it, so it is turned off through libsndfile's own command interface.
    """
    with sf.SoundFile(path, "w", sample_rate, 1, subtype="FLOAT", format="WAV") as handle:
        sf._snd.sf_command(handle._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        handle.write(np.asarray(wave, dtype=np.float32))


@dataclass(frozen=True)
class Segment:
    """One manifest row. `shape` is a corner name, `first+second` for an edge crossfade with
    `mix` the weight of `first`, or a recording's label."""

    id: str
    split: str
    source: str  # synth | recorded
    kind: str  # corner | edge | interior
    shape: str
    mix: float
    e0: float
    e1: float
    freq_start_hz: float  # nan when unknown
    freq_end_hz: float
    heldout_freq: bool
    sample_rate: int
    samples: int
    input_file: str
    target_file: str
    # What the recorded-data importer measured of the recording before correcting it (see
    # pipeline.data.alignment); a synthesised segment is exact by construction: these defaults.
    latency_samples: int = 0
    input_polarity: int = 1
    input_gain: float = 1.0
    input_offset: float = 0.0
    target_polarity: int = 1
    target_gain: float = 1.0
    target_offset: float = 0.0
    fit_esr: float = 0.0


MANIFEST_COLUMNS = [f.name for f in fields(Segment)]


@dataclass
class SplitData:
    """One split in memory: per segment an input (T, 3) = [core, e0, e1] and a target (T, 1)."""

    segments: list[Segment]
    inputs: list[np.ndarray]
    targets: list[np.ndarray]


def model_input(core: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """The model's input channels for a core wave under a constant embedding: (T, 3)."""
    core = np.asarray(core, dtype=np.float32)
    return np.stack([core, np.full_like(core, e0), np.full_like(core, e1)], axis=-1)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: stable bytes, exact on reading
    return str(value)


def write_dataset(
    out_dir: Path, items: Iterable[tuple[Segment, np.ndarray, np.ndarray]]
) -> list[Segment]:
    """Write segments and their audio to `out_dir`, all or nothing.

    Everything goes to a temporary sibling folder that is renamed into place at the end, so
    an interrupted run never leaves a folder that looks complete. `out_dir` must be absent,
    empty or an earlier dataset: anything else is refused (`pipeline.outputs.check_output`).
    """
    with staged_directory(out_dir, "collect") as tmp:
        segments = []
        for segment, core, target in items:
            for rel, wave in ((segment.input_file, core), (segment.target_file, target)):
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                write_wav(path, wave, segment.sample_rate)
            segments.append(segment)
        with open(tmp / MANIFEST, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(MANIFEST_COLUMNS)
            for segment in segments:
                writer.writerow([_format(v) for v in asdict(segment).values()])
    return segments


def _parse(kind: str, raw: str) -> object:
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        if raw not in ("0", "1"):
            raise ValueError
        return raw == "1"
    return raw


_EXPECTED = {"int": "an integer", "float": "a number", "bool": "0 or 1"}


def read_manifest(dataset_dir: Path) -> list[Segment]:
    """The manifest's segments; a one-line DataError names the line and column of a bad
    value. A column with a default may be absent: manifests written before the recording
    columns existed read with the synthesised values."""
    path = Path(dataset_dir) / MANIFEST
    again = "(run the collect stage again)"
    kinds = {f.name: f.type for f in fields(Segment)}
    columns, rows = read_csv(path, DataError, f"the CSV manifest the collect stage writes {again}")
    missing = [f.name for f in fields(Segment) if f.name not in columns and f.default is MISSING]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}; expected the header "
                        f"{','.join(MANIFEST_COLUMNS)} {again}")
    segments = []
    for line, row in rows:
        values = {}
        for name, kind in kinds.items():
            if name in columns:
                try:
                    values[name] = _parse(kind, row[name])
                except ValueError:
                    raise DataError(f"{path}: line {line}: {name}: expected {_EXPECTED[kind]}, "
                                    f"got {row[name]!r} {again}") from None
        segments.append(Segment(**values))
    return segments


def _read_audio(path: Path, segment: Segment) -> np.ndarray:
    """One mono WAV of a segment, checked against its manifest row."""
    again = "(run the collect stage again)"
    if not path.is_file():
        raise DataError(f"{path}: missing (listed in the dataset manifest) {again}")
    try:
        audio, rate = sf.read(path, dtype="float32")
    except sf.SoundFileError as err:
        reason = getattr(err, "error_string", str(err)).rstrip(".")
        raise DataError(f"{path}: not a readable WAV file ({reason}) {again}") from None
    if audio.ndim != 1:
        raise DataError(f"{path}: {audio.shape[1]} channels; expected mono {again}")
    if (len(audio), rate) != (segment.samples, segment.sample_rate):
        raise DataError(f"{path}: {len(audio)} samples at {rate} Hz; the manifest says "
                        f"{segment.samples} at {segment.sample_rate} Hz {again}")
    return audio


def load_split(dataset_dir: Path, split: str) -> SplitData:
    dataset_dir = Path(dataset_dir)
    data = SplitData([], [], [])
    for segment in read_manifest(dataset_dir):
        if segment.split != split:
            continue
        core = _read_audio(dataset_dir / segment.input_file, segment)
        target = _read_audio(dataset_dir / segment.target_file, segment)
        data.segments.append(segment)
        data.inputs.append(model_input(core, segment.e0, segment.e1))
        data.targets.append(target[:, None])
    if not data.segments:
        raise DataError(f"{dataset_dir / MANIFEST}: no segments in the '{split}' split")
    return data
