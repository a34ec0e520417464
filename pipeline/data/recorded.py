"""Import recorded input/target WAV pairs: checked, measured, aligned, levelled and segmented.

The folder `data.recorded.dir` holds the WAV files and `pairs.csv` (UTF-8; a byte-order mark
is accepted) with the columns `input,target,e0,e1` and an optional `label`: one row per pair,
paths relative to the folder, the embedding the target was recorded at.

Checks, each a one-line error naming the file: readable and not empty, the configured sample
rate, mono, input and target of equal length, finite samples, no sample at or above
`clip_level` (full scale is 1.0), a signal in both (peak-to-peak at least `SIGNAL_FLOOR`),
and an input that completes at least one cycle: the targets are measured against its phase.

Measurement (`pipeline.data.alignment`): every pair is fitted as target(t) ≈ gain ·
polarity · reference(t - latency) + offset against the shape expected at its embedding.

Refused, in this order, each naming the file: a fit worse than `max_fit_esr` (with the likely
cause: the corner that does fit, if one does, else noise or an unrelated signal); an inverted
channel with `polarity: refuse`; a negative latency (the target leading its input, which a
causal device cannot do); a latency beyond `max_latency_samples`; and any latency with
`latency: refuse`.

Then `latency: align` shifts the target back and trims both files to their overlap,
`polarity: auto` flips an inverted channel (`keep` leaves it), and `level: normalise` brings
both to the synthesised convention, amplitude 1 and no DC: the input by its extremes, the
target by the fitted gain and offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.config import RecordedConfig
from pipeline.data.alignment import (
    Measurement,
    level,
    likely_mismatch,
    measure,
    search_range,
)
from pipeline.errors import DataError
from pipeline.inputs import read_csv

PAIRS_MANIFEST = "pairs.csv"
REQUIRED_COLUMNS = ("input", "target", "e0", "e1")
SIGNAL_FLOOR = 1e-4
"""Peak-to-peak below this (-80 dB of full scale) carries no signal: silent or constant."""


@dataclass
class RecordedPair:
    """A checked pair, aligned and levelled as configured, and what was measured of it."""

    name: str
    input_file: str
    core: np.ndarray
    target: np.ndarray
    e0: float
    e1: float
    label: str
    measured: Measurement


def _read_mono(path: Path, sample_rate: int) -> np.ndarray:
    try:
        info = sf.info(path)
    except (OSError, RuntimeError, sf.LibsndfileError):
        raise DataError(f"{path}: cannot read as a WAV file") from None
    if info.frames == 0:
        raise DataError(f"{path}: empty (0 samples); expected a recording")
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


def _check_signal(path: Path, audio: np.ndarray, expected: str) -> None:
    low, high = audio.min(), audio.max()
    if high - low >= SIGNAL_FLOOR:
        return
    if max(abs(low), abs(high)) < SIGNAL_FLOOR:
        raise DataError(f"{path}: silent (peak {max(abs(low), abs(high)):.2g}, below "
                        f"{SIGNAL_FLOOR:g}); expected {expected}")
    raise DataError(f"{path}: flat (constant at {(low + high) / 2:.4g}, peak-to-peak "
                    f"{high - low:.2g}); expected {expected}")


def _check_oscillates(path: Path, levelled: np.ndarray) -> None:
    """At least one full cycle: the levelled input goes from below -1/2 to above +1/2 and
    back (the margin ignores noise around the middle)."""
    sides = np.sign(levelled[np.abs(levelled) > 0.5])
    if np.count_nonzero(np.diff(sides)) < 2:
        raise DataError(f"{path}: no full cycle of oscillation, so no oscillator phase to "
                        "measure the target against; expected a triangle wave")


def _read_pairs_manifest(folder: Path) -> list[tuple[int, dict[str, str]]]:
    path = folder / PAIRS_MANIFEST
    columns, rows = read_csv(path, DataError, "a UTF-8 CSV with the columns "
                                              f"{','.join(REQUIRED_COLUMNS)}[,label]")
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


def _file_names(path: Path, line: int, row: dict[str, str]) -> tuple[str, str]:
    names = []
    for column in ("input", "target"):
        name = (row[column] or "").strip()
        if not name:
            raise DataError(f"{path}: line {line}: {column} is empty, expected a WAV file "
                            "name relative to the folder")
        names.append(name)
    return names[0], names[1]


def _refuse(config: RecordedConfig, input_path: Path, target_path: Path, core: np.ndarray,
            target: np.ndarray, e0: float, e1: float, measured: Measurement) -> None:
    """Raise on a measurement the configuration does not accept (order in the module doc)."""
    esr, latency = measured.fit_esr, measured.latency_samples
    if esr > config.max_fit_esr:
        search = search_range(config.max_latency_samples, len(target))
        cause = likely_mismatch(core, target, e0, e1, search, config.max_fit_esr,
                                PAIRS_MANIFEST)
        raise DataError(f"{target_path}: does not fit the shape expected at (e0, e1) = "
                        f"({e0:g}, {e1:g}): fit error-to-signal {esr:.2g}, expected at most "
                        f"{config.max_fit_esr:g} (data.recorded.max_fit_esr); {cause}")
    if config.polarity == "refuse":
        for path, polarity in ((input_path, measured.input_polarity),
                               (target_path, measured.target_polarity)):
            if polarity < 0:
                raise DataError(f"{path}: inverted (polarity -1 against the shape expected at "
                                f"(e0, e1) = ({e0:g}, {e1:g})); expected +1 "
                                "(data.recorded.polarity: refuse; auto flips it)")
    if latency < 0:
        raise DataError(f"{target_path}: leads its input by {-latency} samples (fit "
                        f"error-to-signal {esr:.2g}), impossible for a causal device; expected "
                        f"a lag of 0 to {config.max_latency_samples} samples; likely the input "
                        "passed through a longer path than the target, or the files were "
                        "trimmed differently")
    if latency > config.max_latency_samples:
        raise DataError(f"{target_path}: lags its input by {latency} samples (fit "
                        f"error-to-signal {esr:.2g}), more than max_latency_samples; expected "
                        f"at most {config.max_latency_samples} "
                        "(data.recorded.max_latency_samples)")
    if latency and config.latency == "refuse":
        raise DataError(f"{target_path}: lags its input by {latency} samples (fit "
                        f"error-to-signal {esr:.2g}); expected 0 (set data.recorded.latency: "
                        "align to shift it)")


def load_pairs(config: RecordedConfig, sample_rate: int) -> list[RecordedPair]:
    """Read, check and measure every pair listed in the folder's manifest, raising on the
    first problem, then align, flip and level them as configured."""
    folder = Path(config.dir)
    manifest = folder / PAIRS_MANIFEST
    pairs = []
    for line, row in _read_pairs_manifest(folder):
        e0, e1 = _embedding(manifest, line, row)
        input_name, target_name = _file_names(manifest, line, row)
        input_path, target_path = folder / input_name, folder / target_name
        core = _read_mono(input_path, sample_rate)
        target = _read_mono(target_path, sample_rate)
        if len(core) != len(target):
            raise DataError(f"{target_path}: {len(target)} samples but its input {input_path} "
                            f"has {len(core)}; expected equal lengths")
        _check_clipping(input_path, core, config.clip_level)
        _check_clipping(target_path, target, config.clip_level)
        _check_signal(input_path, core, "a triangle wave")
        _check_signal(target_path, target, "the shaped wave")
        input_gain, input_offset = level(core)
        _check_oscillates(input_path, (core - input_offset) / input_gain)
        measured = measure(core, target, e0, e1, config.max_latency_samples,
                           config.max_fit_esr)
        _refuse(config, input_path, target_path, core, target, e0, e1, measured)
        lag = measured.latency_samples
        core, target = core[: len(core) - lag], target[lag:]
        if config.level == "normalise":
            core = (core - measured.input_offset) / measured.input_gain
            target = (target - measured.target_offset) / measured.target_gain
        if config.polarity == "auto":
            core, target = measured.input_polarity * core, measured.target_polarity * target
        label = (row.get("label") or "").strip()
        pairs.append(RecordedPair(Path(input_name).stem, input_name, core, target, e0, e1,
                                  label, measured))
    return pairs


def pairs_table(pairs: list[RecordedPair]) -> str:
    """One row per pair: what was measured of it (before correction)."""
    header = (f"{'input':<24} {'e0':>5} {'e1':>5} {'latency':>7} {'polarity in/out':>15} "
              f"{'input gain':>10} {'input dc':>9} {'target gain':>11} {'target dc':>9} "
              f"{'fit ESR':>8}")
    rows = [header]
    for pair in pairs:
        m = pair.measured
        rows.append(f"{pair.input_file:<24} {pair.e0:>5g} {pair.e1:>5g} {m.latency_samples:>7d} "
                    f"{f'{m.input_polarity:+d}/{m.target_polarity:+d}':>15} "
                    f"{m.input_gain:>10.4f} {m.input_offset:>9.4f} {m.target_gain:>11.4f} "
                    f"{m.target_offset:>9.4f} {m.fit_esr:>8.2g}")
    return "\n".join(rows)
