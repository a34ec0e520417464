"""Import recorded input/target WAV pairs, checked, aligned and cut into segments.

The folder `data.recorded.dir` holds the WAV files and `pairs.csv` with the columns
`input,target,e0,e1` and an optional `label`: one row per pair, paths relative to the folder,
the embedding the target was recorded at.

Checks, each a one-line error naming the file: readable, the configured sample rate, mono,
input and target of equal length, finite samples, no sample at or above `clip_level`
(full scale is 1.0), and the input-to-target latency.

Latency: plain cross-correlation of input and target does not work for waveshaping, because
the ramp's and square's fundamentals sit a quarter period from the triangle's and the zigzag
has no fundamental at all. Instead the importer recovers the oscillator phase from the
recorded triangle (its value and direction), synthesises the reference shape at the pair's
embedding (the bilinear mix of the four corner shapes of `pipeline.waveforms`), and
cross-correlates that reference with the recorded target over lags within
±`max_latency_samples`; the best lag is the latency (ties go to the smallest lag). A steady
tone repeats every period, so a latency of a whole period or more is only identifiable in a
recording whose frequency moves (glides).
With `latency: refuse` a nonzero latency is an error; with `align` the target is shifted
to match and both files are trimmed to their overlap.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline import waveforms
from pipeline.config import CORNERS, SPLITS, RecordedConfig
from pipeline.dataset import Segment
from pipeline.errors import DataError

PAIRS_MANIFEST = "pairs.csv"
REQUIRED_COLUMNS = ("input", "target", "e0", "e1")


@dataclass
class RecordedPair:
    """A checked, aligned pair and what the manifest says about it."""

    name: str
    core: np.ndarray
    target: np.ndarray
    e0: float
    e1: float
    label: str
    latency: int


def _read_mono(path: Path, sample_rate: int) -> np.ndarray:
    try:
        info = sf.info(path)
    except (OSError, RuntimeError, sf.LibsndfileError):
        raise DataError(f"{path}: cannot read as a WAV file") from None
    if info.samplerate != sample_rate:
        raise DataError(f"{path}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz "
                        "(data.sample_rate)")
    if info.channels != 1:
        raise DataError(f"{path}: {info.channels} channels, expected 1 (mono)")
    audio, _ = sf.read(path, dtype="float64")
    bad = np.flatnonzero(~np.isfinite(audio))
    if bad.size:
        raise DataError(f"{path}: {bad.size} non-finite samples (NaN or inf), first at sample "
                        f"{bad[0]}; expected finite audio")
    return audio


def _check_clipping(path: Path, audio: np.ndarray, clip_level: float) -> None:
    clipped = np.flatnonzero(np.abs(audio) >= clip_level)
    if clipped.size:
        raise DataError(f"{path}: {clipped.size} samples at or above the clip level "
                        f"{clip_level:g} (first at sample {clipped[0]}); expected a recording "
                        "with headroom (data.recorded.clip_level)")


def reference_target(core: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """The shape expected at (e0, e1) on the phase recovered from a recorded triangle."""
    x = np.clip(core / np.max(np.abs(core)), -1.0, 1.0)
    rising = np.gradient(x) >= 0
    phase = np.where(rising, x / 4.0, 0.5 - x / 4.0)
    dt = np.zeros_like(phase)
    u, v = (e0 + 1.0) / 2.0, (e1 + 1.0) / 2.0
    weights = {"sine": (1 - u) * (1 - v), "ramp": (1 - u) * v, "square": u * v,
               "zigzag": u * (1 - v)}
    return sum(w * waveforms.SHAPES[name](phase, dt, "none") for name, w in weights.items())


def estimate_latency(core: np.ndarray, target: np.ndarray, e0: float, e1: float,
                     max_lag: int) -> int:
    """Samples by which `target` lags `core`: the peak of the cross-correlation between the
    recorded target and the reference shape on the core's phase."""
    reference = reference_target(core, e0, e1)
    reference = reference - reference.mean()
    target = target - target.mean()
    n = len(target)
    lags = sorted(range(-min(max_lag, n // 2), min(max_lag, n // 2) + 1), key=abs)
    scores = np.array([
        np.dot(reference[: n - lag], target[lag:]) / (n - lag) if lag >= 0
        else np.dot(reference[-lag:], target[: n + lag]) / (n + lag)
        for lag in lags
    ])
    best = scores.max()
    return lags[int(np.flatnonzero(scores >= best - 1e-9 * abs(best))[0])]


def _read_pairs_manifest(folder: Path) -> list[dict[str, str]]:
    path = folder / PAIRS_MANIFEST
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except OSError as err:
        raise DataError(f"{path}: cannot read the pairs manifest ({err.strerror})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                        f"{','.join(REQUIRED_COLUMNS)}[,label]")
    if not rows:
        raise DataError(f"{path}: no pairs listed")
    return rows


def _embedding(path: Path, line: int, row: dict[str, str]) -> tuple[float, float]:
    values = []
    for column in ("e0", "e1"):
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            value = float("nan")
        if not -1.0 <= value <= 1.0:
            raise DataError(f"{path}: line {line}: {column} is {row[column]!r}, expected a "
                            "number in [-1, 1]")
        values.append(value)
    return values[0], values[1]


def load_pairs(config: RecordedConfig, sample_rate: int) -> list[RecordedPair]:
    """Read and check every pair listed in the folder's manifest; raise on the first problem."""
    folder = Path(config.dir)
    pairs = []
    for line, row in enumerate(_read_pairs_manifest(folder), start=2):
        e0, e1 = _embedding(folder / PAIRS_MANIFEST, line, row)
        input_path, target_path = folder / row["input"], folder / row["target"]
        core = _read_mono(input_path, sample_rate)
        target = _read_mono(target_path, sample_rate)
        if len(core) != len(target):
            raise DataError(f"{target_path}: {len(target)} samples but its input {input_path} "
                            f"has {len(core)}; expected equal lengths")
        _check_clipping(input_path, core, config.clip_level)
        _check_clipping(target_path, target, config.clip_level)
        latency = estimate_latency(core, target, e0, e1, config.max_latency_samples)
        if latency and config.latency == "refuse":
            raise DataError(
                f"{target_path}: lags its input by {latency} samples (cross-correlation "
                f"with the reference shape); expected 0 (set data.recorded.latency: align to "
                "shift it)")
        if latency > 0:
            core, target = core[: len(core) - latency], target[latency:]
        elif latency < 0:
            core, target = core[-latency:], target[: len(target) + latency]
        label = (row.get("label") or "").strip()
        pairs.append(RecordedPair(Path(row["input"]).stem, core, target, e0, e1, label, latency))
    return pairs


def _kind_and_shape(e0: float, e1: float, label: str) -> tuple[str, str]:
    for name, corner in CORNERS.items():
        if (e0, e1) == corner:
            return "corner", label or name
    if abs(e0) == 1.0 or abs(e1) == 1.0:
        return "edge", label or "recorded"
    return "interior", label or "recorded"


def _frequency(core: np.ndarray, sample_rate: int) -> float:
    """Mean fundamental from rising zero crossings of the core wave (nan if none)."""
    rising = np.flatnonzero((core[:-1] < 0) & (core[1:] >= 0))
    if len(rising) < 2:
        return float("nan")
    return float(sample_rate * (len(rising) - 1) / (rising[-1] - rising[0]))


def segment_pairs(pairs: list[RecordedPair], config: RecordedConfig, sample_rate: int,
                  seed: int) -> list[tuple[Segment, np.ndarray, np.ndarray]]:
    """Cut pairs into segments and deal them to splits by a seeded shuffle."""
    length = round(config.segment_seconds * sample_rate)
    pieces = [(pair, start) for pair in pairs
              for start in range(0, len(pair.core) - length + 1, length)]
    if len(pieces) < len(SPLITS):
        raise DataError(f"{config.dir}: recordings give {len(pieces)} segments of "
                        f"{config.segment_seconds:g} s; need at least {len(SPLITS)}, one per split")
    order = np.random.default_rng([seed, 7]).permutation(len(pieces))
    counts = [max(1, round(getattr(config.split_fractions, s) * len(pieces))) for s in SPLITS]
    counts[0] = len(pieces) - sum(counts[1:])
    split_of = np.repeat(np.arange(len(SPLITS)), counts)[np.argsort(order)]
    items = []
    for index, ((pair, start), split_index) in enumerate(zip(pieces, split_of, strict=True)):
        split = SPLITS[split_index]
        core, target = pair.core[start:start + length], pair.target[start:start + length]
        kind, shape = _kind_and_shape(pair.e0, pair.e1, pair.label)
        freq = _frequency(core, sample_rate)
        segment_id = f"rec-{index:04d}-{pair.name}"
        items.append((Segment(
            id=segment_id, split=split, source="recorded", kind=kind, shape=shape,
            mix=1.0, e0=pair.e0, e1=pair.e1, freq_start_hz=freq, freq_end_hz=freq,
            heldout_freq=False, sample_rate=sample_rate, samples=length,
            input_file=f"audio/{split}/{segment_id}_input.wav",
            target_file=f"audio/{split}/{segment_id}_target.wav",
        ), core, target))
    return items
