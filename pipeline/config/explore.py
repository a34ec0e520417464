"""params.yaml `explore`: the quality-per-cost frontier search (`make explore`), its Optuna
study and storage, its training budget, and the model and fold space it samples."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import FieldProblem, Strict

Scheme = Literal["fixed", "po2"]
DilationGrowth = Literal["every_layer", "every_two_layers"]


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise FieldProblem("", "lists a choice twice", values)
    return values


class SearchSpace(Strict):
    """The choices a trial draws from (`pipeline.explore.space`). Every model is a causal
    stack of `layers` convolutions of `kernel_size`, dilations doubling every layer or every
    two layers up to `max_dilation`, 16-bit input, activations with 4 integer bits, a linear
    output; a po2 model adds one factorised 1x1 pair of power-of-two convolutions between
    two of them."""

    schemes: list[Scheme] = Field(default=["fixed", "po2"], min_length=1)
    layers: list[int] = Field(default=[3, 8], min_length=2, max_length=2)  # fewest, most
    filters: list[int] = Field(default=[4, 6, 8, 12, 16, 20, 24], min_length=1)
    kernel_sizes: list[int] = Field(default=[2, 3], min_length=1)
    dilation_growth: list[DilationGrowth] = Field(default=["every_layer", "every_two_layers"],
                                                  min_length=1)
    # Dilations stop growing here: long receptive fields add little on these shapes and
    # lengthen every training window (docs/training.md, "Choosing the defaults").
    max_dilation: int = Field(default=8, ge=1)
    kernel_bits: list[int] = Field(default=[8, 10, 12, 16], min_length=1)
    kernel_integer_bits: list[int] = Field(default=[2, 3, 4], min_length=1)
    activation_bits: list[int] = Field(default=[8, 12, 16], min_length=1)
    po2_ranks: list[int] = Field(default=[8, 12, 16, 24], min_length=1)
    po2_bits: list[int] = Field(default=[3, 4, 5], min_length=1)
    # The fold: the sample rate each design must sustain at hls.clock_period_ns.
    sample_rates_hz: list[float] = Field(default=[48000.0, 96000.0, 192000.0], min_length=1)

    @field_validator("schemes", "filters", "kernel_sizes", "dilation_growth", "kernel_bits",
                     "kernel_integer_bits", "activation_bits", "po2_ranks", "po2_bits",
                     "sample_rates_hz")
    @classmethod
    def _no_repeats(cls, values: list) -> list:
        return _distinct(values)

    @field_validator("filters", "kernel_sizes", "po2_ranks")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if min(values) < 1:
            raise FieldProblem("", "every choice must be at least 1", values)
        return values

    @field_validator("sample_rates_hz")
    @classmethod
    def _positive_rates(cls, values: list[float]) -> list[float]:
        if min(values) <= 0:
            raise FieldProblem("", "every rate must be above 0 Hz", values)
        return values

    @model_validator(mode="after")
    def _layer_range(self) -> SearchSpace:
        fewest, most = self.layers
        if not 2 <= fewest <= most:
            raise FieldProblem("layers", "must be [fewest, most] with 2 <= fewest <= most "
                                "(an output layer and at least one before it)", self.layers)
        return self


class ExploreConfig(Strict):
    """One study: `trials` finished trials (complete or refused), `workers` processes side
    by side on this machine, all against `storage` (default: SQLite under explore/; an RDB
    URL such as postgresql://... lets workers on several machines join)."""

    study: str = Field(default="frontier", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    storage: str | None = None
    trials: int = Field(default=40, ge=1)
    workers: int = Field(default=2, ge=1, le=64)
    # train.epochs for every trial (a quick look); null: params.yaml's train.epochs.
    epochs: int | None = Field(default=None, ge=1)
    # A worker that stops beating this long (killed outright) has its trial failed and
    # retried once by the next worker to start a trial.
    heartbeat_seconds: int = Field(default=10, ge=1)
    # Model configs (configs/models/<name>.yaml) queued as the study's first trials, folded
    # for hls.target_sample_rate_hz: the frontier then holds them at the study's own budget.
    baselines: list[str] = Field(default=[])
    space: SearchSpace = SearchSpace()

    @field_validator("baselines")
    @classmethod
    def _baselines_once(cls, values: list[str]) -> list[str]:
        return _distinct(values)
