"""Phase-locked waveforms: the triangle core wave and the four corner shapes.

Everything is a function of one oscillator phase φ (in cycles, unwrapped), so every target
is an exact reshaping of the triangle it is paired with:

- triangle  tri(φ) = 4·|((φ - 1/4) mod 1) - 1/2| - 1: rises through 0 at φ = 0, peaks +1 at
  φ = 1/4, falls through 0 at φ = 1/2, troughs -1 at φ = 3/4. Sampled naively (the input).
- sine      sin(2πφ) = sin(π/2 · tri(φ)): peaks with the triangle; a memoryless shaping.
- ramp      2·((φ - 3/4) mod 1) - 1: rises from -1 at the trough to +1 at the next trough,
            passing 0 at the peak; one jump of -2 at each trough. Needs the triangle's
            direction: on the rising half ramp = (tri - 1)/2, on the falling half (1 - tri)/2.
- square    +1 while the triangle rises, -1 while it falls (the triangle is its integral);
            jumps of +2 at each trough and -2 at each peak.
- zigzag    tri(2φ): the triangle at twice the core frequency, zero at the core's zero
            crossings, peaks and troughs, continuous. As a shaping it is s·fold(2·tri) with s
            the triangle's direction, so like ramp and square it needs the direction.

Band-limiting: the jumps of ramp and square are smoothed with a two-sample PolyBLEP (the
polynomial band-limited step of virtual-analog oscillators), which removes most of the
aliasing a naive jump folds back below Nyquist. The triangle and zigzag have kinks only and
are sampled naively. With `band_limit="none"` all shapes are sampled naively.

Edges of the embedding square crossfade two corner shapes at constant power:
`sin(a·π/2)·w0 + sin((1-a)·π/2)·w1`, so a = 1 gives w0 and a = 0 gives w1.
"""

from collections.abc import Callable

import numpy as np

from pipeline.data import libm

BandLimit = str  # "polyblep" or "none"


def oscillator_phase(freq_hz: np.ndarray, sample_rate: int, start_phase: float) -> np.ndarray:
    """Unwrapped phase in cycles of an oscillator following `freq_hz` sample by sample."""
    increments = np.asarray(freq_hz, dtype=np.float64) / sample_rate
    return start_phase + np.concatenate(([0.0], np.cumsum(increments[:-1])))


def triangle(phase: np.ndarray) -> np.ndarray:
    return 4.0 * np.abs(np.mod(phase - 0.25, 1.0) - 0.5) - 1.0


def polyblep(phase: np.ndarray, jump_phase: float, dt: np.ndarray) -> np.ndarray:
    """Residual of a unit-half-height band-limited step at `jump_phase`: add `h/2 ·` this to a
    naive wave that jumps by `h` there. Nonzero only within one sample of the jump."""
    t = np.mod(phase - jump_phase, 1.0)
    residual = np.zeros_like(t)
    after = t < dt
    x = t[after] / dt[after]
    residual[after] = 2.0 * x - x * x - 1.0
    before = t > 1.0 - dt
    x = (t[before] - 1.0) / dt[before]
    residual[before] = x * x + 2.0 * x + 1.0
    return residual


def sine(phase: np.ndarray, dt: np.ndarray, band_limit: BandLimit) -> np.ndarray:
    return libm.sin(2.0 * np.pi * phase)


def ramp(phase: np.ndarray, dt: np.ndarray, band_limit: BandLimit) -> np.ndarray:
    wave = 2.0 * np.mod(phase - 0.75, 1.0) - 1.0
    if band_limit == "polyblep":
        wave -= polyblep(phase, 0.75, dt)  # jump of -2 at the trough
    return wave


def square(phase: np.ndarray, dt: np.ndarray, band_limit: BandLimit) -> np.ndarray:
    wave = np.where(np.mod(phase - 0.75, 1.0) < 0.5, 1.0, -1.0)
    if band_limit == "polyblep":
        wave += polyblep(phase, 0.75, dt)  # jump of +2 at the trough
        wave -= polyblep(phase, 0.25, dt)  # jump of -2 at the peak
    return wave


def zigzag(phase: np.ndarray, dt: np.ndarray, band_limit: BandLimit) -> np.ndarray:
    return triangle(2.0 * phase)


SHAPES: dict[str, Callable[[np.ndarray, np.ndarray, BandLimit], np.ndarray]] = {
    "sine": sine,
    "ramp": ramp,
    "square": square,
    "zigzag": zigzag,
}


def crossfade(first: np.ndarray, second: np.ndarray, mix: float) -> np.ndarray:
    """Constant-power crossfade: `mix` = 1 gives `first`, 0 gives `second`."""
    return libm.sin(mix * np.pi / 2) * first + libm.sin((1.0 - mix) * np.pi / 2) * second
