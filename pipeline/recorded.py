"""Import recorded input/target WAV pairs: checked, measured, aligned, levelled and segmented.

The folder `data.recorded.dir` holds the WAV files and `pairs.csv` (UTF-8; a byte-order mark
is accepted) with the columns `input,target,e0,e1` and an optional `label`: one row per pair,
paths relative to the folder, the embedding the target was recorded at.

Checks, each a one-line error naming the file: readable and not empty, the configured sample
rate, mono, input and target of equal length, finite samples, no sample at or above
`clip_level` (full scale is 1.0), a signal in both (peak-to-peak at least `SIGNAL_FLOOR`),
and an input that completes at least one cycle: the targets are measured against its phase.

Measurement. Interfaces and oscillators invert, scale and offset what they record, so every
pair is fitted as

    target(t) ≈ gain · polarity · reference(t - latency) + offset

`reference` is the shape expected at the pair's embedding on the oscillator phase recovered
from the recorded triangle (its value and direction, once the input's own level is taken
out: its offset is the midpoint of its extremes, its gain half their distance). Plain
input/target cross-correlation would not do: the ramp's and square's fundamentals sit a
quarter period from the triangle's, and the zigzag has no fundamental at all. The latency is
the lag of the largest normalised cross-correlation (in magnitude) of the mean-removed
reference and target, searched over a range wider than `max_latency_samples` so that a longer
delay is seen rather than clamped (a steady tone's aliases: see `_best_lag`). The sign of that
peak is the polarity; gain and offset are the least-squares fit at that lag; `fit_esr`, the
residual's energy over the target's (mean-removed) energy, says how well the shape explains
the recording. An inverted triangle is the same triangle half a cycle on, so an inverted input
shows as an inverted target for the sine and square and not at all for the zigzag; only the
ramp (and mixes with it) tells them apart, so a pair that fits only with its input inverted
(an interface that inverts both channels) is measured with `input_polarity` -1.

Refused, in this order, each naming the file: a fit worse than `max_fit_esr` (with the likely
cause: the corner that does fit, if one does, else noise or an unrelated signal); an inverted
channel with `polarity: refuse`; a negative latency (the target leading its input, which a
causal device cannot do); a latency beyond `max_latency_samples`; and any latency with
`latency: refuse`.

Then `latency: align` shifts the target back and trims both files to their overlap,
`polarity: auto` flips an inverted channel (`keep` leaves it), and `level: normalise` brings
both to the synthesised convention, amplitude 1 and no DC: the input by its extremes, the
target by the fitted gain and offset.

A steady tone repeats every period, so its latency is known only modulo the period (the
smallest non-negative candidate is taken); recordings whose frequency moves (glides) pin it
down.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline import waveforms
from pipeline.config import CORNERS, SPLITS, RecordedConfig
from pipeline.dataset import Segment
from pipeline.errors import DataError

PAIRS_MANIFEST = "pairs.csv"
REQUIRED_COLUMNS = ("input", "target", "e0", "e1")
SIGNAL_FLOOR = 1e-4
"""Peak-to-peak below this (-80 dB of full scale) carries no signal: silent or constant."""
MIN_SEGMENT_SAMPLES = 2
"""The shortest segment cut (a frequency needs two samples); training refuses segments
shorter than its windows on its own."""
MIN_LATENCY_SEARCH = 256
LATENCY_SEARCH_FACTOR = 4
"""Lags are searched over ±max(4 x max_latency_samples, 256) (at most half the recording)."""
ALIAS_TOLERANCE = (1.5, 1e-6)
"""A peak of the cross-correlation whose fit ESR is at most 1.5 x the best + 1e-6 is as good
as the best: a steady tone's aliases differ by less, a glide's by orders of magnitude."""


@dataclass(frozen=True)
class Measurement:
    """What the importer measured of one pair, before any correction: the manifest's
    recording columns (see `pipeline.dataset.Segment`)."""

    latency_samples: int
    input_polarity: int
    input_gain: float
    input_offset: float
    target_polarity: int
    target_gain: float
    target_offset: float
    fit_esr: float


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


@dataclass(frozen=True)
class _Fit:
    latency: int
    polarity: int
    gain: float
    offset: float
    esr: float


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


def _level(core: np.ndarray) -> tuple[float, float]:
    """The input's gain and offset from its extremes: a triangle of amplitude 1 and no DC
    comes out as (1, 0)."""
    low, high = float(core.min()), float(core.max())
    return (high - low) / 2.0, (high + low) / 2.0


def _check_oscillates(path: Path, levelled: np.ndarray) -> None:
    """At least one full cycle: the levelled input goes from below -1/2 to above +1/2 and
    back (the margin ignores noise around the middle)."""
    sides = np.sign(levelled[np.abs(levelled) > 0.5])
    if np.count_nonzero(np.diff(sides)) < 2:
        raise DataError(f"{path}: no full cycle of oscillation, so no oscillator phase to "
                        "measure the target against; expected a triangle wave")


def reference_target(levelled: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """The shape expected at (e0, e1) on the phase recovered from a triangle of amplitude 1:
    the corner shapes weighted at constant power along each axis of the square, which is the
    synthesised edge crossfade on the edges and the corner shape at a corner."""
    x = np.clip(levelled, -1.0, 1.0)
    rising = np.gradient(x) >= 0
    phase = np.where(rising, x / 4.0, 0.5 - x / 4.0)
    dt = np.zeros_like(phase)
    u, v = (e0 + 1.0) / 2.0, (e1 + 1.0) / 2.0
    power = np.sin(np.array([1 - u, u, 1 - v, v]) * np.pi / 2)
    weights = {"sine": power[0] * power[2], "ramp": power[0] * power[3],
               "square": power[1] * power[3], "zigzag": power[1] * power[2]}
    return sum(w * waveforms.SHAPES[name](phase, dt, "none") for name, w in weights.items())


def _search_range(max_latency: int, samples: int) -> int:
    return min(samples // 2, max(LATENCY_SEARCH_FACTOR * max_latency, MIN_LATENCY_SEARCH))


def _cross_correlation(r: np.ndarray, t: np.ndarray, search: int) -> np.ndarray:
    """sum_i r[i] t[i + L] for L in [-search, search], by FFT in blocks of r (overlap-save),
    so that memory stays proportional to the block, not to the recording."""
    size = max(1 << 16, 1 << (4 * search + 1).bit_length())
    block = size - 2 * search
    padded = np.r_[np.zeros(search), t, np.zeros(search)]  # padded[j + search] = t[j]
    cross = np.zeros(2 * search + 1)
    for start in range(0, len(r), block):
        piece = r[start:start + block]
        window = padded[start:start + len(piece) + 2 * search]
        full = np.fft.irfft(np.conj(np.fft.rfft(piece, size)) * np.fft.rfft(window, size), size)
        cross += full[: 2 * search + 1]
    return cross


def _best_lag(reference: np.ndarray, target: np.ndarray, search: int) -> int:
    """The lag L in [-search, search] at which target(t) best matches ±reference(t - L), from
    the normalised cross-correlation (in magnitude) of the mean-removed signals over their
    overlap.

    A steady tone matches equally well a whole period on (half a period, inverted, for the
    sine and square; a quarter for the zigzag), so every peak whose fit is about as good as
    the best (ESR within ALIAS_TOLERANCE) is a candidate; the smallest lag >= 0 wins (a
    causal device), else the negative one nearest 0. In a glide those aliases fit far worse
    and the best peak stands alone."""
    n = len(target)
    r, t = reference - reference.mean(), target - target.mean()
    cross = _cross_correlation(r, t, search)
    lags = np.arange(-search, search + 1)
    r_energy, t_energy = np.cumsum(np.r_[0.0, r * r]), np.cumsum(np.r_[0.0, t * t])
    ahead = lags >= 0  # overlap: reference[:n - L] with target[L:], else reference[-L:]
    overlap_r = np.where(ahead, r_energy[np.minimum(n - lags, n)],
                         r_energy[n] - r_energy[np.maximum(-lags, 0)])
    overlap_t = np.where(ahead, t_energy[n] - t_energy[np.maximum(lags, 0)],
                         t_energy[np.minimum(n + lags, n)])
    energy = overlap_r * overlap_t
    score = np.abs(cross) / np.sqrt(np.where(energy > 0, energy, np.inf))
    padded = np.r_[-np.inf, score, -np.inf]
    peak = (score >= padded[:-2]) & (score >= padded[2:])
    esr = 1.0 - np.minimum(score, 1.0) ** 2  # of the fit at each lag, near enough to compare
    relative, absolute = ALIAS_TOLERANCE
    candidates = lags[peak & (esr <= esr.min() * relative + absolute)]
    causal = candidates[candidates >= 0]
    return int(causal.min() if causal.size else candidates.max())


def _fit_at(reference: np.ndarray, target: np.ndarray, lag: int) -> _Fit:
    """Least squares target(t) ≈ slope · reference(t - lag) + offset over the overlap."""
    n = len(target)
    ref, tgt = ((reference[: n - lag], target[lag:]) if lag >= 0
                else (reference[-lag:], target[: n + lag]))
    r, t = ref - ref.mean(), tgt - tgt.mean()
    slope = float(np.sum(r * t) / np.sum(r * r))
    energy = float(np.sum(t * t))
    residual = float(np.sum((t - slope * r) ** 2))
    return _Fit(latency=lag, polarity=1 if slope >= 0 else -1, gain=abs(slope),
                offset=float(tgt.mean() - slope * ref.mean()),
                esr=residual / energy if energy > 0 else float("inf"))


def _best_fit(reference: np.ndarray, target: np.ndarray, search: int) -> _Fit:
    return _fit_at(reference, target, _best_lag(reference, target, search))


def measure(core: np.ndarray, target: np.ndarray, e0: float, e1: float, max_latency: int,
            max_fit_esr: float) -> Measurement:
    """Latency, polarities, gains and offsets of a pair and how well the shape fits; the
    input counts as inverted only when the pair fits that way and not as recorded."""
    input_gain, input_offset = _level(core)
    levelled = (core - input_offset) / input_gain
    search = _search_range(max_latency, len(target))
    fit, input_polarity = _best_fit(reference_target(levelled, e0, e1), target, search), 1
    if fit.esr > max_fit_esr:
        inverted = _best_fit(reference_target(-levelled, e0, e1), target, search)
        if inverted.esr <= max_fit_esr:
            fit, input_polarity = inverted, -1
    return Measurement(latency_samples=fit.latency, input_polarity=input_polarity,
                       input_gain=input_gain, input_offset=input_offset,
                       target_polarity=fit.polarity, target_gain=fit.gain,
                       target_offset=fit.offset, fit_esr=fit.esr)


def _likely_mismatch(core: np.ndarray, target: np.ndarray, e0: float, e1: float,
                     search: int, max_fit_esr: float) -> str:
    """Why a pair fits badly: the corner that fits instead, if one does, else noise."""
    input_gain, input_offset = _level(core)
    levelled = (core - input_offset) / input_gain
    fits = {name: min(_best_fit(reference_target(sign * levelled, *corner), target, search).esr
                      for sign in (1, -1))
            for name, corner in CORNERS.items() if corner != (e0, e1)}
    name = min(fits, key=fits.get)
    if fits[name] <= max_fit_esr:
        c0, c1 = CORNERS[name]
        return (f"it fits the {name} corner (e0, e1) = ({c0:g}, {c1:g}) with ESR "
                f"{fits[name]:.2g}: check e0, e1 in {PAIRS_MANIFEST}")
    return (f"likely noise or an unrelated signal (no corner shape fits either), or a latency "
            f"beyond the ±{search} samples searched")


def _read_pairs_manifest(folder: Path) -> list[dict[str, str]]:
    path = folder / PAIRS_MANIFEST
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except OSError as err:
        raise DataError(f"{path}: cannot read the pairs manifest ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                        f"{err.start}); expected a UTF-8 CSV") from None
    except csv.Error as err:
        raise DataError(f"{path}: not a readable CSV ({err}); expected a UTF-8 CSV") from None
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
        search = _search_range(config.max_latency_samples, len(target))
        cause = _likely_mismatch(core, target, e0, e1, search, config.max_fit_esr)
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
    for line, row in enumerate(_read_pairs_manifest(folder), start=2):
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
        input_gain, input_offset = _level(core)
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


def _kind_and_shape(e0: float, e1: float, label: str) -> tuple[str, str]:
    for name, corner in CORNERS.items():
        if (e0, e1) == corner:
            return "corner", label or name
    if abs(e0) == 1.0 or abs(e1) == 1.0:
        return "edge", label or "recorded"
    return "interior", label or "recorded"


def _frequency(core: np.ndarray, sample_rate: int) -> float:
    """Mean fundamental from rising crossings of the core wave's midpoint (nan if none)."""
    core = core - (core.max() + core.min()) / 2.0
    rising = np.flatnonzero((core[:-1] < 0) & (core[1:] >= 0))
    if len(rising) < 2:
        return float("nan")
    return float(sample_rate * (len(rising) - 1) / (rising[-1] - rising[0]))


def _split_counts(config: RecordedConfig, pieces: int) -> list[int]:
    """Segments per split: validation and test by their fractions (at least one each), train
    the rest; refused when that leaves train empty."""
    fractions = [getattr(config.split_fractions, s) for s in SPLITS]
    counts = [max(1, round(f * pieces)) for f in fractions]
    counts[0] = pieces - sum(counts[1:])
    if counts[0] < 1:
        given = ", ".join(f"{s} {f:g}" for s, f in zip(SPLITS, fractions, strict=True))
        dealt = ", ".join(f"{s} {c}" for s, c in zip(SPLITS, counts, strict=True))
        raise DataError(f"{config.dir}: split_fractions ({given}) of the {pieces} segments the "
                        f"recordings give leave {dealt}; expected at least one segment in "
                        "every split (raise data.recorded.split_fractions.train, shorten "
                        "segment_seconds or record more)")
    return counts


def segment_pairs(pairs: list[RecordedPair], config: RecordedConfig, sample_rate: int,
                  seed: int) -> list[tuple[Segment, np.ndarray, np.ndarray]]:
    """Cut pairs into segments and deal them to splits by a seeded shuffle."""
    length = round(config.segment_seconds * sample_rate)
    if length < MIN_SEGMENT_SAMPLES:
        raise DataError(f"data.recorded.segment_seconds: {config.segment_seconds:g} s is "
                        f"{length} samples at {sample_rate} Hz; expected at least "
                        f"{MIN_SEGMENT_SAMPLES} samples ({MIN_SEGMENT_SAMPLES / sample_rate:.3g} "
                        "s), and training windows need longer ones")
    pieces = [(pair, start) for pair in pairs
              for start in range(0, len(pair.core) - length + 1, length)]
    if len(pieces) < len(SPLITS):
        raise DataError(f"{config.dir}: recordings give {len(pieces)} segments of "
                        f"{config.segment_seconds:g} s; need at least {len(SPLITS)}, one per split")
    order = np.random.default_rng([seed, 7]).permutation(len(pieces))
    counts = _split_counts(config, len(pieces))
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
            **asdict(pair.measured),
        ), core, target))
    return items
