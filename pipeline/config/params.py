"""params.yaml as one object (`Params`), and what it asks of each model config."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from pipeline.config.base import FieldProblem, Strict
from pipeline.config.data import DataConfig, below_nyquist, segment_samples
from pipeline.config.explore import ExploreConfig
from pipeline.config.hardware import HlsConfig, RtlConfig
from pipeline.config.models import ModelConfig
from pipeline.data.shapes import INPUT_CHANNELS


class TrainConfig(Strict):
    """Training windows are `window_receptive_fields` receptive fields long (the blog's 10x)."""

    window_receptive_fields: int = Field(ge=2)
    batch_size: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=1)
    epochs: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    # cosine: decays from learning_rate to 0 over epochs x steps_per_epoch
    lr_schedule: Literal["constant", "cosine"]
    # epochs (within `epochs`) of a linear warm-up of the rate from 0, then constant or
    # cosine; measured no better on the synthesised shapes (docs/training.md)
    warmup_epochs: int = Field(default=0, ge=0)
    l2: float = Field(ge=0)
    # mse: mean squared error; esr: error-to-signal ratio of the pre-emphasised signals
    # (y[n] - pre_emphasis * y[n-1]; 0 for none), as Neural Amp Modeler trains
    loss: Literal["mse", "esr"] = "mse"
    pre_emphasis: float = Field(default=0.0, ge=0, lt=1)
    early_stopping_patience: int = Field(ge=1)
    restarts: int = Field(ge=1)  # independent initialisations; the best on validation is kept
    # also train the float twin (float32 convolutions and ReLUs) by the same recipe, to
    # measure what quantisation costs (float_esr_corners)
    float_twin: bool = True


class TrackingConfig(Strict):
    experiment: str = Field(default="waveshaper", min_length=1)


class SweepConfig(Strict):
    """The validation sweep: a triangle gliding exponentially over `frequency_range_hz`
    while its embedding goes once round the border of the square, corner to corner."""

    seconds: float = Field(default=2.0, gt=0)
    frequency_range_hz: list[float] = Field(default=[30.0, 2000.0], min_length=2, max_length=2)

    @model_validator(mode="after")
    def _positive_range(self) -> SweepConfig:
        low, high = self.frequency_range_hz
        if not 0 < low <= high:
            raise FieldProblem("frequency_range_hz", "must be [low, high] with 0 < low <= high",
                                self.frequency_range_hz)
        return self


LSD_FLOOR_RANGE_DB = (-200.0, 200.0)
"""Wider than the dynamic range of any output word up to 32 bits (about 193 dB), and the floor
stays a positive, finite float64 power for every such word."""


class ValidationConfig(Strict):
    """The validate stage: the signals and the STFT of the log-spectral distance."""

    sweep: SweepConfig = SweepConfig()
    stft_n_fft: int = Field(default=2048, ge=16)
    stft_hop: int = Field(default=512, ge=1)
    # The LSD's floor before the log, in dB above the output word's rounding noise per bin.
    lsd_floor_above_rounding_noise_db: float = 10.0
    # Copies of the C simulation run side by side, each its own copy of the library.
    csim_threads: int = Field(default=2, ge=1, le=64)

    @field_validator("lsd_floor_above_rounding_noise_db")
    @classmethod
    def _floor_in_range(cls, decibels: float) -> float:
        low, high = LSD_FLOOR_RANGE_DB
        if not low <= decibels <= high:
            raise FieldProblem("", f"must be from {low:g} to {high:g} dB", decibels)
        return decibels

    @model_validator(mode="after")
    def _hop_inside_frame(self) -> ValidationConfig:
        if self.stft_hop > self.stft_n_fft:
            raise FieldProblem("stft_hop", f"must be at most stft_n_fft ({self.stft_n_fft}): "
                                "a longer hop skips samples between frames", self.stft_hop)
        return self


_MODEL_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


class Params(Strict):
    seed: int = Field(ge=0)
    data: DataConfig
    train: TrainConfig
    tracking: TrackingConfig = TrackingConfig()
    hls: HlsConfig = HlsConfig()
    rtl: RtlConfig = RtlConfig()
    validation: ValidationConfig = ValidationConfig()
    explore: ExploreConfig = ExploreConfig()
    models: list[str] = Field(min_length=1)

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, seed: int) -> int:
        if seed >= 2**32:
            raise FieldProblem("", "must be below 2^32 = 4294967296 (TensorFlow's and NumPy's "
                                "global seeds are 32-bit)", seed)
        return seed

    @field_validator("models")
    @classmethod
    def _model_file_stems(cls, names: list[str]) -> list[str]:
        for index, name in enumerate(names):
            if not re.fullmatch(_MODEL_NAME, name):
                raise FieldProblem(str(index), "a model name is the stem of a file in "
                                    "configs/models/: letters, digits, '_', '-' and '.', not "
                                    "starting with '.' or '-'", name)
            if name in names[:index]:
                raise FieldProblem(str(index), f"{name!r} is listed twice", name)
        return names

    @model_validator(mode="after")
    def _sweep_fits(self) -> Params:
        rate, validation = self.data.sample_rate, self.validation
        below_nyquist("validation.sweep.frequency_range_hz",
                       validation.sweep.frequency_range_hz, rate)
        samples = segment_samples(validation.sweep.seconds, rate)
        if samples < validation.stft_n_fft:
            raise FieldProblem("validation.sweep.seconds", f"{samples} samples at "
                                f"data.sample_rate {rate}, fewer than one STFT frame "
                                f"(validation.stft_n_fft {validation.stft_n_fft})",
                                validation.sweep.seconds)
        return self


# ---------------------------------------------------------------- params against a model

EPOCH_WINDOWS_LIMIT_BYTES = 2**30
"""An epoch's training windows are built in memory at once, for every restart (and its float
twin) side by side (`pipeline.train.training.epoch_windows`); 1 GiB keeps training within a
small machine's memory (the shipped params.yaml: 90 MiB)."""


def training_window(train: TrainConfig, model: ModelConfig) -> int:
    """Samples in one training window: `window_receptive_fields` receptive fields."""
    return train.window_receptive_fields * model.receptive_field


def check_model_fits(params: Params, model: ModelConfig) -> None:
    """What params.yaml asks of a model that it can only know with the model's config."""
    train, rate = params.train, params.data.sample_rate
    window = training_window(train, model)
    segments = []
    if params.data.source in ("synth", "both"):
        segments.append(("data.synth.segment_seconds", params.data.synth.segment_seconds))
    if params.data.source in ("recorded", "both"):
        segments.append(("data.recorded.segment_seconds", params.data.recorded.segment_seconds))
    for field, seconds in segments:
        samples = segment_samples(seconds, rate)
        if samples < window:
            raise FieldProblem(field, f"{samples} samples at data.sample_rate {rate}, shorter "
                                f"than a training window: train.window_receptive_fields "
                                f"({train.window_receptive_fields}) x the receptive field of "
                                f"{model.name} ({model.receptive_field}) = {window} samples",
                                seconds)
    channels = INPUT_CHANNELS + 1  # the model's inputs and the target
    runs = train.restarts * (2 if train.float_twin else 1)  # each draws its own windows
    size = runs * train.steps_per_epoch * train.batch_size * window * channels * 4
    if size > EPOCH_WINDOWS_LIMIT_BYTES:
        twin = " x 2 (float_twin)" if train.float_twin else ""
        raise FieldProblem("train.batch_size", f"an epoch's training windows for {model.name} "
                            f"(restarts {train.restarts}{twin} x steps_per_epoch "
                            f"{train.steps_per_epoch} x batch_size {train.batch_size} x "
                            f"{window} samples x {channels} float32 channels) take "
                            f"{size / 2**30:,.2f} GiB, more than the "
                            f"{EPOCH_WINDOWS_LIMIT_BYTES / 2**30:g} GiB limit",
                            train.batch_size)
