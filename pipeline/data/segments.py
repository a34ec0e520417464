"""Recorded pairs cut into segments and dealt to the splits by a seeded shuffle, so the same
recordings and seed give the same dataset."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from pipeline.config import RecordedConfig
from pipeline.data.dataset import Segment
from pipeline.data.recorded import RecordedPair
from pipeline.data.shapes import CORNERS, SPLITS
from pipeline.errors import DataError

MIN_SEGMENT_SAMPLES = 2
"""The shortest segment cut (a frequency needs two samples); training refuses segments
shorter than its windows on its own."""


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
