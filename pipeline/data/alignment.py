"""Measuring a recorded pair against the shape its embedding asks for: the input's level,
the latency, the polarities, the target's gain and offset, and how well the shape fits.

Interfaces and oscillators invert, scale and offset what they record, so every
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

A steady tone repeats every period, so its latency is known only modulo the period (the
smallest non-negative candidate is taken); recordings whose frequency moves (glides) pin it
down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.data import libm, waveforms
from pipeline.data.shapes import CORNERS

MIN_LATENCY_SEARCH = 256
LATENCY_SEARCH_FACTOR = 4
"""Lags are searched over ±max(4 x max_latency_samples, 256) (at most half the recording)."""
ALIAS_TOLERANCE = (1.5, 1e-6)
"""A peak of the cross-correlation whose fit ESR is at most 1.5 x the best + 1e-6 is as good
as the best: a steady tone's aliases differ by less, a glide's by orders of magnitude."""


@dataclass(frozen=True)
class Measurement:
    """What the importer measured of one pair, before any correction: the manifest's
    recording columns (see `pipeline.data.dataset.Segment`)."""

    latency_samples: int
    input_polarity: int
    input_gain: float
    input_offset: float
    target_polarity: int
    target_gain: float
    target_offset: float
    fit_esr: float


@dataclass(frozen=True)
class _Fit:
    latency: int
    polarity: int
    gain: float
    offset: float
    esr: float


def level(core: np.ndarray) -> tuple[float, float]:
    """The input's gain and offset from its extremes: a triangle of amplitude 1 and no DC
    comes out as (1, 0)."""
    low, high = float(core.min()), float(core.max())
    return (high - low) / 2.0, (high + low) / 2.0


def reference_target(levelled: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """The shape expected at (e0, e1) on the phase recovered from a triangle of amplitude 1:
    the corner shapes weighted at constant power along each axis of the square, which is the
    synthesised edge crossfade on the edges and the corner shape at a corner."""
    x = np.clip(levelled, -1.0, 1.0)
    rising = np.gradient(x) >= 0
    phase = np.where(rising, x / 4.0, 0.5 - x / 4.0)
    dt = np.zeros_like(phase)
    u, v = (e0 + 1.0) / 2.0, (e1 + 1.0) / 2.0
    power = libm.sin(np.array([1 - u, u, 1 - v, v]) * np.pi / 2)
    weights = {"sine": power[0] * power[2], "ramp": power[0] * power[3],
               "square": power[1] * power[3], "zigzag": power[1] * power[2]}
    return sum(w * waveforms.SHAPES[name](phase, dt, "none") for name, w in weights.items())


def search_range(max_latency: int, samples: int) -> int:
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
    input_gain, input_offset = level(core)
    levelled = (core - input_offset) / input_gain
    search = search_range(max_latency, len(target))
    fit, input_polarity = _best_fit(reference_target(levelled, e0, e1), target, search), 1
    if fit.esr > max_fit_esr:
        inverted = _best_fit(reference_target(-levelled, e0, e1), target, search)
        if inverted.esr <= max_fit_esr:
            fit, input_polarity = inverted, -1
    return Measurement(latency_samples=fit.latency, input_polarity=input_polarity,
                       input_gain=input_gain, input_offset=input_offset,
                       target_polarity=fit.polarity, target_gain=fit.gain,
                       target_offset=fit.offset, fit_esr=fit.esr)


def likely_mismatch(core: np.ndarray, target: np.ndarray, e0: float, e1: float,
                    search: int, max_fit_esr: float, manifest: str) -> str:
    """Why a pair fits badly: the corner that fits instead, if one does, else noise."""
    input_gain, input_offset = level(core)
    levelled = (core - input_offset) / input_gain
    fits = {name: min(_best_fit(reference_target(sign * levelled, *corner), target, search).esr
                      for sign in (1, -1))
            for name, corner in CORNERS.items() if corner != (e0, e1)}
    name = min(fits, key=fits.get)
    if fits[name] <= max_fit_esr:
        c0, c1 = CORNERS[name]
        return (f"it fits the {name} corner (e0, e1) = ({c0:g}, {c1:g}) with ESR "
                f"{fits[name]:.2g}: check e0, e1 in {manifest}")
    return (f"likely noise or an unrelated signal (no corner shape fits either), or a latency "
            f"beyond the ±{search} samples searched")


