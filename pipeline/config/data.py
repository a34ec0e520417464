"""The `data` section of params.yaml: synthesised segments and recorded pairs."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from pipeline.config.base import FieldProblem, Strict


class SplitCounts(Strict):
    train: int = Field(ge=1)
    validation: int = Field(ge=1)
    test: int = Field(ge=1)


class SplitFractions(Strict):
    train: float = Field(gt=0, lt=1)
    validation: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"fractions must sum to 1, they sum to {total:g}")
        return self


class SynthConfig(Strict):
    """Synthesised data: see docs in `pipeline.data.synth` for every formula."""

    segment_seconds: float = Field(gt=0)
    segments: SplitCounts
    corner_fraction: float = Field(ge=0, le=1)
    frequency_range_hz: list[float] = Field(min_length=2, max_length=2)
    heldout_bands_hz: list[list[float]] = Field(default_factory=list)
    heldout_test_fraction: float = Field(ge=0, le=1)
    glide_probability: float = Field(ge=0, le=1)
    max_glide_octaves: float = Field(ge=0)
    band_limit: Literal["polyblep", "none"] = "polyblep"

    @model_validator(mode="after")
    def _bands_inside_range(self) -> SynthConfig:
        low, high = self.frequency_range_hz
        if not 0 < low < high:
            raise FieldProblem("frequency_range_hz", "must be [low, high] with 0 < low < high",
                                self.frequency_range_hz)
        previous_high = low
        for index, band in enumerate(self.heldout_bands_hz):
            if len(band) != 2 or not previous_high < band[0] < band[1] < high:
                raise FieldProblem(f"heldout_bands_hz.{index}", "held-out bands must be "
                                    "sorted, disjoint [low, high] pairs strictly inside "
                                    f"frequency_range_hz {self.frequency_range_hz}", band)
            previous_high = band[1]
        if self.heldout_test_fraction > 0 and not self.heldout_bands_hz:
            raise FieldProblem("heldout_test_fraction", "a fraction above 0 needs at least one "
                                "band in heldout_bands_hz", self.heldout_test_fraction)
        return self


class RecordedConfig(Strict):
    """Recorded input/target WAV pairs: see `pipeline.data.recorded` and
    `pipeline.data.alignment` for what is measured and refused. `polarity`: auto flips an
    inverted channel, keep leaves it, refuse is an error. `level`: normalise brings both
    channels to amplitude 1 and no DC (the synthesised convention), keep leaves them.
    `max_fit_esr`: the worst accepted fit of the expected shape, as residual energy over the
    target's (mean-removed) energy."""

    dir: str = Field(min_length=1)
    segment_seconds: float = Field(gt=0)
    split_fractions: SplitFractions
    clip_level: float = Field(gt=0, le=1)
    max_latency_samples: int = Field(ge=0)
    latency: Literal["refuse", "align"] = "refuse"
    polarity: Literal["auto", "keep", "refuse"] = "auto"
    level: Literal["normalise", "keep"] = "normalise"
    max_fit_esr: float = Field(default=0.1, gt=0, lt=1)


class DataConfig(Strict):
    sample_rate: int = Field(ge=8000)
    source: Literal["synth", "recorded", "both"] = "synth"
    synth: SynthConfig
    recorded: RecordedConfig | None = None

    @model_validator(mode="after")
    def _recorded_given(self) -> DataConfig:
        if self.source != "synth" and self.recorded is None:
            raise ValueError(f"source '{self.source}' needs a 'recorded' section")
        if self.source == "both" and self.recorded.level == "keep":
            raise ValueError("source 'both' needs recorded.level: normalise, so that recorded "
                             "and synthesised segments share one level (amplitude 1, no DC)")
        return self

    @model_validator(mode="after")
    def _synth_fits_the_rate(self) -> DataConfig:
        """The held-out bands lie inside the range, so a range below Nyquist covers them."""
        below_nyquist("synth.frequency_range_hz", self.synth.frequency_range_hz,
                       self.sample_rate)
        if segment_samples(self.synth.segment_seconds, self.sample_rate) < 1:
            raise FieldProblem("synth.segment_seconds", f"rounds to 0 samples at sample_rate "
                                f"{self.sample_rate}", self.synth.segment_seconds)
        return self


def segment_samples(seconds: float, sample_rate: int) -> int:
    """A duration in whole samples, rounded as the synthesiser and the importer round it."""
    return round(seconds * sample_rate)


def below_nyquist(field: str, range_hz: list[float], sample_rate: int) -> None:
    """A periodic wave above half the sample rate aliases to a lower frequency: refused."""
    if range_hz[1] >= sample_rate / 2:
        raise FieldProblem(field, f"{range_hz[1]:g} Hz is not below the Nyquist frequency "
                            f"({sample_rate / 2:g} Hz at data.sample_rate {sample_rate})",
                            range_hz)
