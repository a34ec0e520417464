"""The HLS design checked against the Keras model, the fixed-point reference and the target.

Three outputs of the same signals (the test split's segments and the long sweep, each from
reset) are compared:

- HLS against Keras: MSE and FastWave's log-spectral distance, over every test segment and
  the sweep together (`hls_vs_keras_*`) and over the sweep alone (`*_sweep`);
- HLS against the fixed-point reference: the count of differing output words;
- each against the target: ESR per corner shape and per edge on the test split
  (`pipeline.evaluate.metrics.segment_esr`), and over the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import ValidationConfig
from pipeline.data.dataset import SplitData
from pipeline.data.synth import Sweep
from pipeline.evaluate.metrics import (
    esr,
    log_spectral_distance,
    mse,
    rounding_noise_floor,
    segment_esr,
)

PREFIX = {"hls": "", "keras": "keras_", "reference": "reference_"}
"""Metric-name prefixes: the HLS design's figures are the unprefixed ones."""


@dataclass(frozen=True)
class Outputs:
    """One implementation's outputs: per test segment (T, 1), and over the sweep (T, 1)."""

    test: list[np.ndarray]
    sweep: np.ndarray

    def signals(self) -> list[np.ndarray]:
        """Every output as a 1-D signal, the test segments first, then the sweep."""
        return [y[:, 0] for y in self.test] + [self.sweep[:, 0]]


def differing_words(first: Outputs, second: Outputs) -> int:
    """Output samples in which two bit-exact implementations differ (their outputs are
    words times a power of two, so float equality is word equality)."""
    return sum(int(np.count_nonzero(a != b))
               for a, b in zip(first.signals(), second.signals(), strict=True))


def compare(test: SplitData, sweep: Sweep, outputs: dict[str, Outputs], skip: int,
            output_lsb: float, config: ValidationConfig) -> dict[str, float]:
    """Every figure of the validate stage: `outputs` holds "hls", "keras" and "reference";
    `skip` is the receptive field minus one, `output_lsb` the output word's step."""
    hls, keras = outputs["hls"], outputs["keras"]
    floor = (rounding_noise_floor(output_lsb, config.stft_n_fft)
             * 10 ** (config.lsd_floor_above_rounding_noise_db / 10))
    stft = {"n_fft": config.stft_n_fft, "hop": config.stft_hop, "floor": floor}
    metrics = {
        "samples": sum(len(s) for s in hls.signals()),
        "hls_vs_reference_mismatches": differing_words(hls, outputs["reference"]),
        "hls_vs_keras_mse": mse(np.concatenate(hls.signals()), np.concatenate(keras.signals())),
        "hls_vs_keras_lsd": log_spectral_distance(keras.signals(), hls.signals(), **stft),
        "hls_vs_keras_mse_sweep": mse(hls.sweep, keras.sweep),
        "hls_vs_keras_lsd_sweep": log_spectral_distance([keras.sweep[:, 0]],
                                                        [hls.sweep[:, 0]], **stft),
        "lsd_floor": floor,
    }
    for name, output in outputs.items():
        prefix = PREFIX[name]
        metrics.update({prefix + key: value
                        for key, value in segment_esr(test, output.test, skip).items()})
        metrics[prefix + "esr_sweep"] = esr(sweep.target[skip:], output.sweep[skip:, 0])
    return metrics
