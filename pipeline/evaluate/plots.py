"""Figures: training curves and examples, validation of the HLS design, the report's
trade-off. Every axis is labelled with its unit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pipeline.data import waveforms
from pipeline.data.dataset import model_input
from pipeline.data.shapes import CORNERS, EDGES
from pipeline.evaluate.metrics import power_spectrogram

if TYPE_CHECKING:
    import keras


def probe_core(frequency_hz: float, periods: float, sample_rate: int,
               warmup: int) -> np.ndarray:
    """A triangle of `periods` periods after `warmup` samples, so the model has full history."""
    samples = warmup + round(periods * sample_rate / frequency_hz)
    phase = waveforms.oscillator_phase(np.full(samples, frequency_hz), sample_rate, 0.0)
    return waveforms.triangle(phase)


def embedding_grid(predict: Callable[[np.ndarray], np.ndarray], path: Path, sample_rate: int,
                   receptive_field: int, title: str, points: int = 5,
                   frequency_hz: float = 220.0) -> None:
    """Output over a grid of embedding points, the blog's figure. `predict` maps a batch of
    inputs (N, T, 3) to outputs (N, T, 1): a Keras model's, or the HLS C simulation's.

    Rows go from e1 = -1 (top) to +1, columns from e0 = -1 (left) to +1, so the corners read
    sine (top left), zigzag (top right), square (bottom right), ramp (bottom left). Only the
    border was trained; the interior is the model's own interpolation.
    """
    core = probe_core(frequency_hz, 2, sample_rate, receptive_field)
    values = np.linspace(-1.0, 1.0, points)
    batch = np.stack([model_input(core, e0, e1) for e1 in values for e0 in values])
    outputs = np.asarray(predict(batch))[:, receptive_field:, 0]
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
    fig.suptitle(f"{title}: output across the embedding (grey: {frequency_hz:g} Hz core)")
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


def corner_examples(model: keras.Model, sample_rate: int, receptive_field: int,
                    seconds: float = 1.0) -> dict[str, np.ndarray]:
    """One second of model output at each corner, over a 55 Hz to 880 Hz glide."""
    samples = receptive_field + round(seconds * sample_rate)
    freq = 55.0 * 16.0 ** (np.arange(samples) / samples)
    core = waveforms.triangle(waveforms.oscillator_phase(freq, sample_rate, 0.0))
    batch = np.stack([model_input(core, *embedding) for embedding in CORNERS.values()])
    outputs = model.predict(batch, verbose=0)[:, receptive_field:, 0]
    return dict(zip(CORNERS, outputs, strict=True))


def _save(fig, path: Path, dpi: int = 90) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def sweep_waveforms(path: Path, target: np.ndarray, keras: np.ndarray, hls: np.ndarray,
                    frequency_hz: np.ndarray, sample_rate: int, title: str,
                    periods: float = 3.0) -> None:
    """Target, Keras and HLS over each other at the start of each edge of the sweep (where
    the embedding is at a corner), a few core periods each."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.2), sharey=True)
    quarter = len(target) // len(EDGES)
    for ax, (index, (corner, _)) in zip(axes.flat, enumerate(EDGES), strict=True):
        start = max(index * quarter, 1)
        length = round(periods * sample_rate / frequency_hz[start])
        span = slice(start, start + length)
        time_ms = np.arange(start, start + length) / sample_rate * 1000
        ax.plot(time_ms, target[span], color="k", lw=2.4, alpha=0.35, label="target")
        ax.plot(time_ms, keras[span], color="C0", lw=1.4, label="Keras (QKeras)")
        ax.plot(time_ms, hls[span], color="C1", lw=1.0, ls="--", label="HLS C simulation")
        ax.set_title(f"{corner} corner, {frequency_hz[start]:.0f} Hz", fontsize=10)
        ax.set_xlabel("time in the sweep (ms)")
        ax.set_ylabel("amplitude (full scale = 1)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"{title}: sweep waveforms (target, Keras and HLS drawn over each other)")
    _save(fig, path)


def spectrograms(path: Path, target: np.ndarray, design: np.ndarray, sample_rate: int,
                 n_fft: int, hop: int, floor: float, title: str) -> None:
    """Log power spectrograms over the sweep of the target, the design's output and their
    difference, on one scale: the difference shows where the model misses (the ramp's and
    the square's aliased harmonics); the floor is the LSD's (the output word's rounding noise
    per bin). Keras is left out: the design equals it to a few LSB (`error.png`)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), sharey=True)
    spectra = [10 * np.log10(np.maximum(power_spectrogram(x, n_fft, hop), floor))
               for x in (target, design, design - target)]
    top = max(s.max() for s in spectra)
    extent = (n_fft / 2 / sample_rate, (n_fft / 2 + hop * (len(spectra[0]) - 1)) / sample_rate,
              0, sample_rate / 2000)
    names = ("target", "design (HLS C simulation)", "difference (design - target)")
    for ax, spectrum, name in zip(axes, spectra, names, strict=True):
        image = ax.imshow(spectrum.T - top, origin="lower", aspect="auto", extent=extent,
                          cmap="magma", vmin=-120, vmax=0)
        ax.set_title(name)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=axes, label="power (dB below the loudest bin)")
    fig.suptitle(f"{title}: log power spectrograms of the sweep (Hann {n_fft}, hop {hop})")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def error_over_time(path: Path, target: np.ndarray, keras: np.ndarray, hls: np.ndarray,
                    output_lsb: float, sample_rate: int, skip: int, title: str,
                    block_ms: float = 10.0) -> None:
    """Over the sweep: HLS minus Keras in output LSBs (top), and the RMS error against the
    target of each in 10 ms blocks (bottom)."""
    time_s = np.arange(len(target)) / sample_rate
    fig, (lsb_ax, rms_ax) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    lsb_ax.plot(time_s, (hls - keras) / output_lsb, color="C1", lw=0.5)
    lsb_ax.set_ylabel("HLS - Keras (output LSB)")
    lsb_ax.set_title("HLS against Keras: the output word's rounding (within 0.5 LSB), and a few "
                     "LSB where QKeras's float32 sums\nround a hidden layer's word differently "
                     "(docs/validation.md)", fontsize=10)
    block = round(block_ms * sample_rate / 1000)
    blocks = (len(target) - skip) // block
    centres = (skip + (np.arange(blocks) + 0.5) * block) / sample_rate
    for output, name, style in ((keras, "Keras", {"color": "C0", "lw": 3.0, "alpha": 0.5}),
                                (hls, "HLS", {"color": "C1", "lw": 1.0, "ls": "--"})):
        error = (output - target)[skip:skip + blocks * block].reshape(blocks, block)
        rms_ax.semilogy(centres, np.sqrt(np.mean(error**2, axis=1)), label=name, **style)
    quarter = len(target) / len(EDGES) / sample_rate
    for index, (corner, _) in enumerate(EDGES):
        rms_ax.axvline(index * quarter, color="0.6", lw=0.8, ls=":")
        rms_ax.annotate(corner, (index * quarter, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8)
    rms_ax.set_ylabel(f"RMS error vs target ({block_ms:g} ms blocks)")
    rms_ax.set_xlabel("time in the sweep (s)")
    rms_ax.legend(loc="lower right")
    for ax in (lsb_ax, rms_ax):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{title}: error over the sweep")
    _save(fig, path)


def quality_against_cost(path: Path, points: Sequence[dict], targets: dict[str, float],
                         grades: Sequence[tuple[float, str]]) -> None:
    """The report's trade-off: test ESR (corners) of each design against its multipliers and
    against its logic, on linear axes, with each scheme's target and Neural Amp Modeler's
    grades marked. A point is a dict: model, scheme, esr_corners, multipliers, logic (the
    axis labels say which figures)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)
    top = max([p["esr_corners"] for p in points] + list(targets.values())) * 1.25
    for ax, (key, label) in zip(axes, (("multipliers", "multipliers (ECP5 MULT18X18D)"),
                                       ("logic", "logic (ECP5 LUT4 after place and route)")),
                                strict=True):
        for bound, name in grades:
            if bound < top:
                ax.axhline(bound, color="0.75", lw=0.8, ls=":")
                ax.annotate(f"NAM: {name} below", (1, bound), xycoords=("axes fraction", "data"),
                            xytext=(-4, 2), textcoords="offset points", ha="right",
                            fontsize=7, color="0.45")
        for index, (scheme, target) in enumerate(sorted(targets.items())):
            ax.axhline(target, color=f"C{index}", lw=1.2, ls="--")
            ax.annotate(f"{scheme} target {target:g}", (0, target),
                        xycoords=("axes fraction", "data"), xytext=(4, 2),
                        textcoords="offset points", fontsize=8, color=f"C{index}")
        colours = {scheme: f"C{index}" for index, scheme in enumerate(sorted(targets))}
        for point in points:
            colour = colours.get(point["scheme"], "0.3")
            ax.scatter(point[key], point["esr_corners"], color=colour, s=70, zorder=3)
            ax.annotate(f"{point['model']}\n{point[key]:,.0f}, ESR {point['esr_corners']:.3f}",
                        (point[key], point["esr_corners"]), xytext=(7, -4),
                        textcoords="offset points", fontsize=8)
        right = max(p[key] for p in points)
        ax.set_xlim(0, right * 1.45 if right > 0 else 1)
        ax.set_ylim(0, top)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test ESR, corners (lower is better)")
    fig.suptitle("Quality against what the design costs: one point per model")
    _save(fig, path, dpi=100)


def frontier(path: Path, trials: Sequence[dict], front: Sequence[dict],
             defaults: Sequence[dict], trial_epochs: str, default_epochs: int) -> None:
    """The search's frontier: test ESR (corners, log scale) against ECP5 LUT4 and against
    MULT18X18D. Every feasible trial faint, Pareto-optimal trials solid, schemes in colours,
    baseline trials as named diamonds, the pipeline's default models as labelled stars; the
    title says each one's training budget (a short-budget study's ESRs are not the
    defaults'). A point is a dict: scheme, esr_corners, ecp5_lut4, ecp5_mult18 (and trial
    and baseline, or model for a default)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)
    colours = {"fixed": "C0", "po2": "C1"}
    for ax, (key, label) in zip(axes, (("ecp5_lut4", "ECP5 LUT4 (yosys)"),
                                       ("ecp5_mult18", "ECP5 MULT18X18D (yosys)")),
                                strict=True):
        for scheme, colour in colours.items():
            mine = [p for p in trials if p["scheme"] == scheme]
            ax.scatter([p[key] for p in mine], [p["esr_corners"] for p in mine],
                       color=colour, alpha=0.25, s=25, label=f"{scheme}: trials")
            best = sorted((p for p in front if p["scheme"] == scheme), key=lambda p: p[key])
            ax.scatter([p[key] for p in best], [p["esr_corners"] for p in best], color=colour,
                       s=60, edgecolor="k", zorder=3, label=f"{scheme}: Pareto-optimal")
            for point in best:
                ax.annotate(str(point["trial"]), (point[key], point["esr_corners"]),
                            xytext=(4, 3), textcoords="offset points", fontsize=7)
        for point in (p for p in trials if p.get("baseline")):
            ax.scatter(point[key], point["esr_corners"], marker="D", s=55, zorder=4,
                       facecolor="none", edgecolor=colours.get(point["scheme"], "0.3"))
            ax.annotate(point["baseline"], (point[key], point["esr_corners"]), xytext=(6, 3),
                        textcoords="offset points", fontsize=7, style="italic")
        for point in defaults:
            ax.scatter(point[key], point["esr_corners"], marker="*", s=180, zorder=4,
                       color=colours.get(point["scheme"], "0.3"), edgecolor="k")
            ax.annotate(point["model"], (point[key], point["esr_corners"]), xytext=(6, -10),
                        textcoords="offset points", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("test ESR, corners (lower is better)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"The quality-per-cost frontier: numbers are trials (trained {trial_epochs} "
                 f"epochs), stars the default models ({default_epochs} epochs)")
    _save(fig, path, dpi=100)
