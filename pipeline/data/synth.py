"""Synthesised waveshaping data: which segments to make, and their audio.

Each segment is a triangle core wave with a random start phase at a constant frequency or an
exponential glide, under one constant embedding: a corner (one shape) or a point on an edge
(a constant-power crossfade of the edge's two corner shapes, embedding interpolated linearly
with the same mix). Formulas are in `pipeline.data.waveforms`.

Held-out frequencies: `heldout_bands_hz` are cut out of the training range. Train and
validation segments, glides included, never enter them; a `heldout_test_fraction` of the test
segments is drawn inside them, so the test split measures frequencies never trained on.

Every random draw of segment `i` of a split comes from its own generator seeded with
(seed, split, i), so the same config gives the same data byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from pipeline.config import SweepConfig, SynthConfig
from pipeline.data import libm, waveforms
from pipeline.data.dataset import Segment
from pipeline.data.shapes import CORNERS, EDGES, SPLITS


def allowed_bands(config: SynthConfig) -> list[tuple[float, float]]:
    """The training frequency range with the held-out bands cut out."""
    low, high = config.frequency_range_hz
    bands, start = [], low
    for band_low, band_high in config.heldout_bands_hz:
        bands.append((start, band_low))
        start = band_high
    bands.append((start, high))
    return bands


def _draw_frequencies(
    rng: np.random.Generator, bands: list[tuple[float, float]], config: SynthConfig
) -> tuple[float, float]:
    """Start and end frequency inside one band, log-uniform; a glide with some probability."""
    widths = np.array([math.log(high / low) for low, high in bands])
    low, high = bands[rng.choice(len(bands), p=widths / widths.sum())]
    log_low, log_high = math.log2(low), math.log2(high)
    start = rng.uniform(log_low, log_high)
    end = start
    if rng.random() < config.glide_probability:
        octaves = rng.uniform(-config.max_glide_octaves, config.max_glide_octaves)
        end = float(np.clip(start + octaves, log_low, log_high))
    # Clip in Hz too: 2**log2(f) can land a rounding error outside the band.
    return (float(np.clip(math.pow(2.0, start), low, high)),
            float(np.clip(math.pow(2.0, end), low, high)))


def plan_segments(config: SynthConfig, sample_rate: int, seed: int) -> list[Segment]:
    """Every segment of every split, with its random choices made (no audio yet)."""
    samples = round(config.segment_seconds * sample_rate)
    corners = list(CORNERS)
    segments = []
    for split_index, split in enumerate(SPLITS):
        count = getattr(config.segments, split)
        corner_count = round(count * config.corner_fraction)
        for i in range(count):
            rng = np.random.default_rng([seed, split_index, i])
            heldout = split == "test" and rng.random() < config.heldout_test_fraction
            bands = [tuple(b) for b in config.heldout_bands_hz] if heldout else allowed_bands(
                config)
            freq_start, freq_end = _draw_frequencies(rng, bands, config)
            if i < corner_count:
                shape, mix = corners[i % len(corners)], 1.0
                e0, e1 = CORNERS[shape]
                kind = "corner"
            else:
                first, second = EDGES[(i - corner_count) % len(EDGES)]
                mix = float(rng.uniform(0.0, 1.0))
                shape, kind = f"{first}+{second}", "edge"
                (a0, a1), (b0, b1) = CORNERS[first], CORNERS[second]
                e0, e1 = mix * a0 + (1 - mix) * b0, mix * a1 + (1 - mix) * b1
            segment_id = f"{split}-{i:04d}"
            segments.append(Segment(
                id=segment_id, split=split, source="synth", kind=kind, shape=shape,
                mix=mix, e0=float(e0), e1=float(e1), freq_start_hz=freq_start,
                freq_end_hz=freq_end, heldout_freq=heldout, sample_rate=sample_rate,
                samples=samples, input_file=f"audio/{split}/{segment_id}_input.wav",
                target_file=f"audio/{split}/{segment_id}_target.wav",
            ))
    return segments


def glide(freq_start: float, freq_end: float, samples: int) -> np.ndarray:
    """Per-sample frequency of an exponential glide (constant when start == end)."""
    return freq_start * libm.power(freq_end / freq_start,
                                  np.arange(samples) / max(samples - 1, 1))


def shaped_wave(shape: str, mix: float, phase: np.ndarray, dt: np.ndarray,
                band_limit: str) -> np.ndarray:
    """The target for `shape` (a corner, or `first+second` crossfaded with `mix`)."""
    if "+" not in shape:
        return waveforms.SHAPES[shape](phase, dt, band_limit)
    first, second = shape.split("+")
    return waveforms.crossfade(waveforms.SHAPES[first](phase, dt, band_limit),
                               waveforms.SHAPES[second](phase, dt, band_limit), mix)


def render(segment: Segment, config: SynthConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The core wave and target of a planned segment."""
    split_index = SPLITS.index(segment.split)
    index = int(segment.id.rsplit("-", 1)[1])
    # The start phase has a generator of its own so that it never shifts the plan's draws.
    start_phase = np.random.default_rng([seed, split_index, index, 1]).random()
    freq = glide(segment.freq_start_hz, segment.freq_end_hz, segment.samples)
    phase = waveforms.oscillator_phase(freq, segment.sample_rate, start_phase)
    dt = freq / segment.sample_rate
    core = waveforms.triangle(phase)
    return core, shaped_wave(segment.shape, segment.mix, phase, dt, config.band_limit)


@dataclass(frozen=True)
class Sweep:
    """A long validation signal: `inputs` (T, 3) = [core, e0, e1] for the model, `target`
    (T,) the exact shaped wave, `frequency_hz` (T,) the core's frequency."""

    inputs: np.ndarray
    target: np.ndarray
    frequency_hz: np.ndarray


def sweep(config: SweepConfig, sample_rate: int, band_limit: str) -> Sweep:
    """A triangle gliding exponentially over the configured range while the embedding goes
    once round the border of the square: a quarter of the time along each edge of EDGES
    (sine -> ramp -> square -> zigzag -> sine), moving linearly, the target the edge's
    constant-power crossfade at the current mix. Deterministic: no random draw."""
    samples = round(config.seconds * sample_rate)
    low, high = config.frequency_range_hz
    freq = glide(low, high, samples)
    phase = waveforms.oscillator_phase(freq, sample_rate, 0.0)
    dt = freq / sample_rate
    position = np.arange(samples) / samples * len(EDGES)  # edge index + progress along it
    edge = position.astype(int)
    mix = 1.0 - (position - edge)  # 1 at the edge's first corner, towards 0 at its second
    target = np.zeros(samples)
    embedding = np.zeros((samples, 2))
    for index, (first, second) in enumerate(EDGES):
        on = edge == index
        target[on] = waveforms.crossfade(
            waveforms.SHAPES[first](phase[on], dt[on], band_limit),
            waveforms.SHAPES[second](phase[on], dt[on], band_limit), mix[on])
        embedding[on] = (mix[on, None] * np.array(CORNERS[first])
                         + (1 - mix[on, None]) * np.array(CORNERS[second]))
    core = waveforms.triangle(phase)
    inputs = np.concatenate([core[:, None], embedding], axis=1).astype(np.float32)
    return Sweep(inputs, target, freq)


def synthesize(config: SynthConfig, sample_rate: int, seed: int,
               progress: bool = False) -> Iterator[tuple[Segment, np.ndarray, np.ndarray]]:
    segments = plan_segments(config, sample_rate, seed)
    for segment in tqdm(segments, desc="synthesising", unit="segment", disable=not progress):
        yield (segment, *render(segment, config, seed))
