"""Audio quality metrics (NumPy only; the training losses are in `pipeline.train.training`).

The first `receptive_field - 1` outputs of a segment see the causal zero padding, not real
history, so the ESR metrics skip them. The HLS-against-Keras comparisons (MSE,
log-spectral distance) need no skip: both start from the same zero state.
"""

import warnings
from collections.abc import Sequence

import numpy as np

from pipeline.data.dataset import SplitData
from pipeline.data.shapes import CORNERS, EDGES


def esr(target: np.ndarray, prediction: np.ndarray) -> float:
    """Error-to-signal ratio sum((y - ŷ)²) / sum(y²): 0 is perfect, 1 is as bad as silence."""
    target = np.asarray(target, dtype=np.float64)
    error = target - np.asarray(prediction, dtype=np.float64)
    return float(np.sum(error**2) / np.sum(target**2))


def mse(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean squared difference over every sample (FastWave's MSE)."""
    difference = np.asarray(reference, dtype=np.float64) - np.asarray(estimate, dtype=np.float64)
    return float(np.mean(difference**2))


def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window of the STFT (constant overlap-add at a hop of n_fft / 4)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)


def power_spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|² of a 1-D signal, (frames, n_fft // 2 + 1): periodic Hann frames of n_fft
    samples every `hop`, no padding (a signal shorter than n_fft has no frames)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < n_fft:
        return np.zeros((0, n_fft // 2 + 1))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * hann(n_fft), axis=-1)) ** 2


def normalized_log_spectrogram(power: np.ndarray, floor: float) -> np.ndarray:
    """log(max(power, floor)) divided, frame by frame, by its largest magnitude across
    frequency (librosa.util.normalize along frequency): FastWave's `normalize(log(ps))`."""
    log_power = np.log(np.maximum(power, floor))
    scale = np.abs(log_power).max(axis=-1, keepdims=True)
    return log_power / np.where(scale > 0, scale, 1.0)


def log_spectral_distance(references: Sequence[np.ndarray], estimates: Sequence[np.ndarray],
                          n_fft: int, hop: int, floor: float) -> float:
    """FastWave's LSD: RMSE between normalised log power spectrograms, over every frame of
    every signal pair (1-D each); see docs/validation.md for the settings and the floor."""
    squared, count = 0.0, 0
    for reference, estimate in zip(references, estimates, strict=True):
        ls_reference = normalized_log_spectrogram(power_spectrogram(reference, n_fft, hop), floor)
        ls_estimate = normalized_log_spectrogram(power_spectrogram(estimate, n_fft, hop), floor)
        squared += float(np.sum((ls_reference - ls_estimate) ** 2))
        count += ls_reference.size
    if count == 0:
        raise ValueError(f"log_spectral_distance: no signal is {n_fft} samples long")
    return float(np.sqrt(squared / count))


def rounding_noise_floor(lsb: float, n_fft: int) -> float:
    """The mean power that rounding to an output word of step `lsb` (white noise of
    variance lsb²/12) puts in one bin of `power_spectrogram`: spectral detail near or below
    it is the word's rounding, not the signal."""
    return lsb**2 / 12 * float(np.sum(hann(n_fft) ** 2))


def segment_esr(data: SplitData, predictions: Sequence[np.ndarray],
                skip: int) -> dict[str, float]:
    """ESR per corner shape and per edge, their means, and over held-out and trained
    frequencies; the first `skip` outputs of each segment (padding-affected) are left out.

    `esr_corners` and `esr_edges` are means of the per-shape and per-edge figures, so every
    shape counts the same whatever its loudness or segment count; nan where no segment is
    of the kind.
    """

    def grouped(select) -> float:
        chosen = [i for i, s in enumerate(data.segments) if select(s)]
        if not chosen:
            return float("nan")
        return esr(np.concatenate([data.targets[i][skip:] for i in chosen]),
                   np.concatenate([predictions[i][skip:] for i in chosen]))

    metrics = {"esr": grouped(lambda s: True)}
    for shape in CORNERS:
        metrics[f"esr_{shape}"] = grouped(lambda s, shape=shape: s.kind == "corner"
                                          and s.shape == shape)
    for first, second in EDGES:
        metrics[f"esr_{first}_{second}"] = grouped(lambda s, pair=f"{first}+{second}":
                                                   s.shape == pair)
    with warnings.catch_warnings():  # an all-nan mean is nan, as it should be
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics["esr_corners"] = float(np.nanmean([metrics[f"esr_{s}"] for s in CORNERS]))
        metrics["esr_edges"] = float(np.nanmean([metrics[f"esr_{a}_{b}"] for a, b in EDGES]))
    metrics["esr_heldout_freq"] = grouped(lambda s: s.heldout_freq)
    metrics["esr_trained_freq"] = grouped(lambda s: not s.heldout_freq)
    return metrics
