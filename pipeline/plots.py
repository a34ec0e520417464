"""Figures logged with every training run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from pipeline import waveforms
from pipeline.config import CORNERS
from pipeline.dataset import model_input


def probe_core(frequency_hz: float, periods: float, sample_rate: int,
               warmup: int) -> np.ndarray:
    """A triangle of `periods` periods after `warmup` samples, so the model has full history."""
    samples = warmup + round(periods * sample_rate / frequency_hz)
    phase = waveforms.oscillator_phase(np.full(samples, frequency_hz), sample_rate, 0.0)
    return waveforms.triangle(phase)


def embedding_grid(model: tf.keras.Model, path: Path, sample_rate: int, receptive_field: int,
                   points: int = 5, frequency_hz: float = 220.0) -> None:
    """Model output over a grid of embedding points: the blog's figure.

    Rows go from e1 = -1 (top) to +1, columns from e0 = -1 (left) to +1, so the corners read
    sine (top left), zigzag (top right), square (bottom right), ramp (bottom left). Only the
    border was trained; the interior is the model's own interpolation.
    """
    core = probe_core(frequency_hz, 2, sample_rate, receptive_field)
    values = np.linspace(-1.0, 1.0, points)
    batch = np.stack([model_input(core, e0, e1) for e1 in values for e0 in values])
    outputs = model.predict(batch, verbose=0)[:, receptive_field:, 0]
    time_ms = np.arange(outputs.shape[1]) / sample_rate * 1000
    fig, axes = plt.subplots(points, points, figsize=(2.4 * points, 1.9 * points),
                             sharex=True, sharey=True)
    for index, output in enumerate(outputs):
        row, col = divmod(index, points)
        ax = axes[row, col]
        ax.plot(time_ms, core[receptive_field:], color="0.8", lw=0.8)
        ax.plot(time_ms, output, color="C0", lw=1.2)
        name = next((n for n, c in CORNERS.items() if c == (values[col], values[row])), "")
        ax.set_title(f"e=({values[col]:+.1f}, {values[row]:+.1f}) {name}", fontsize=8)
        ax.set_ylim(-1.6, 1.6)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    for ax in axes[:, 0]:
        ax.set_ylabel("amplitude")
    fig.suptitle(f"{model.name}: output across the embedding (grey: {frequency_hz:g} Hz core)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def training_curves(history: dict[str, list[float]], path: Path, title: str) -> None:
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (loss_ax, esr_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss_ax.semilogy(epochs, history["loss"], label="train loss (masked MSE + L2)")
    loss_ax.semilogy(epochs, history["val_loss"], label="validation MSE")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    esr_ax.semilogy(epochs, history["val_esr"], color="C2")
    esr_ax.set_xlabel("epoch")
    esr_ax.set_ylabel("validation ESR")
    for ax in (loss_ax, esr_ax):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def corner_examples(model: tf.keras.Model, sample_rate: int, receptive_field: int,
                    seconds: float = 1.0) -> dict[str, np.ndarray]:
    """One second of model output at each corner, over a 55 Hz to 880 Hz glide."""
    samples = receptive_field + round(seconds * sample_rate)
    freq = 55.0 * 16.0 ** (np.arange(samples) / samples)
    core = waveforms.triangle(waveforms.oscillator_phase(freq, sample_rate, 0.0))
    batch = np.stack([model_input(core, *embedding) for embedding in CORNERS.values()])
    outputs = model.predict(batch, verbose=0)[:, receptive_field:, 0]
    return dict(zip(CORNERS, outputs, strict=True))
