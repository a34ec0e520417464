"""Typed configuration: `params.yaml` (data, training, tracking) and `configs/models/*.yaml`.

Files are validated once, here, into frozen objects; the library takes these objects, never
raw dicts. Every problem is reported as one line naming the file and the field, before any
work is done.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.export import DEFAULT_OUTPUT_FORMAT
from pipeline.fixedpoint import (
    MAX_ACCUMULATOR_BITS,
    FixedFormat,
    Po2Format,
    SumSpec,
    parse_ap_fixed,
    po2_format,
    too_wide_sum,
)

INPUT_CHANNELS = 3
"""The model's input: the core wave and the two embedding coordinates."""

CORNERS: dict[str, tuple[float, float]] = {
    "sine": (-1.0, -1.0),
    "ramp": (-1.0, 1.0),
    "square": (1.0, 1.0),
    "zigzag": (1.0, -1.0),
}
"""Corner shapes of the 2-D embedding square (e0, e1), as in the blog post."""

EDGES: list[tuple[str, str]] = [
    ("sine", "ramp"),
    ("ramp", "square"),
    ("square", "zigzag"),
    ("zigzag", "sine"),
]
"""Adjacent corner pairs: the edges of the embedding square, crossfaded in training data."""

SPLITS = ("train", "validation", "test")


class _Strict(BaseModel):
    """Unknown keys, silently coerced types and infinite or NaN floats are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class _FieldProblem(ValueError):
    """A problem found by a validator that sees several fields, located at `field` (a dotted
    path below the validated object) and reported with the offending `value`."""

    def __init__(self, field: str, message: str, value: object):
        super().__init__(message)
        self.field, self.message, self.value = field, message, value


# ---------------------------------------------------------------- quantisers


class QuantizedBits(_Strict):
    """QKeras `quantized_bits(bits, integer, alpha=1)`: signed fixed point, `integer` bits
    left of the point besides the sign bit, so the step is 2^-(bits-1-integer)."""

    type: Literal["quantized_bits"]
    bits: int = Field(ge=2, le=32)
    integer: int = Field(ge=0)

    @model_validator(mode="after")
    def _integer_fits(self) -> QuantizedBits:
        if self.integer > self.bits - 1:
            raise ValueError(f"integer ({self.integer}) must be at most bits - 1 ({self.bits - 1})")
        return self


class QuantizedRelu(_Strict):
    """QKeras `quantized_relu(bits, integer)`: unsigned, step 2^-(bits-integer)."""

    type: Literal["quantized_relu"]
    bits: int
    integer: int = Field(ge=0)

    @field_validator("bits")
    @classmethod
    def _exportable_width(cls, bits: int) -> int:
        if not 2 <= bits <= 31:
            raise _FieldProblem("", "quantized_relu supports 2 to 31 bits (the export refuses "
                                "32 or more)", bits)
        return bits

    @model_validator(mode="after")
    def _integer_fits(self) -> QuantizedRelu:
        if self.integer > self.bits:
            raise ValueError(f"integer ({self.integer}) must be at most bits ({self.bits})")
        return self


class QuantizedPo2(_Strict):
    """QKeras `quantized_po2(bits, max_value)`: sign and a power-of-two exponent."""

    type: Literal["quantized_po2"]
    bits: int = Field(ge=2, le=16)
    max_value: float | None = Field(default=None, gt=0)


class Linear(_Strict):
    """No activation: the layer's accumulator is its output."""

    type: Literal["linear"]


def _fixed_point_bias(value: object) -> object:
    """A bias is added to the accumulator as a fixed-point word: only `quantized_bits`."""
    if isinstance(value, dict) and value.get("type", "quantized_bits") != "quantized_bits":
        raise _FieldProblem("type", "a bias quantiser must be quantized_bits (the export stores "
                            "every bias as a fixed-point word; quantized_po2 is for kernels)",
                            value["type"])
    return value


KernelQuantizer = Annotated[QuantizedBits | QuantizedPo2, Field(discriminator="type")]
BiasQuantizer = Annotated[QuantizedBits, BeforeValidator(_fixed_point_bias)]
Activation = Annotated[QuantizedRelu | QuantizedBits | Linear, Field(discriminator="type")]


# ---------------------------------------------------------------- model architecture


class LayerConfig(_Strict):
    """One causal dilated convolution; unset quantisers fall back to the model's defaults.

    `factorized_rank: P` replaces this (1x1) layer by two 1x1 convolutions F_in->P->F with no
    activation between them: the blog's power-of-two factorised block.
    """

    filters: int = Field(ge=1)
    kernel_size: int = Field(ge=1)
    dilation: int = Field(default=1, ge=1)
    activation: Activation | None = None
    kernel_quantizer: KernelQuantizer | None = None
    bias_quantizer: BiasQuantizer | None = None
    factorized_rank: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _factorized_is_pointwise(self) -> LayerConfig:
        if self.factorized_rank is not None and self.kernel_size != 1:
            raise _FieldProblem("kernel_size", "factorized_rank needs kernel_size 1 (a pair of "
                                "1x1 convolutions)", self.kernel_size)
        return self


class ModelConfig(_Strict):
    """A causal dilated QConv1D stack and its quantisers; `name` is the file's stem."""

    name: str
    description: str = ""
    input_quantizer: QuantizedBits
    kernel_quantizer: KernelQuantizer
    bias_quantizer: BiasQuantizer
    activation: Activation
    output_activation: Activation = Linear(type="linear")
    layers: list[LayerConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _single_output(self) -> ModelConfig:
        if self.layers[-1].filters != 1:
            raise _FieldProblem(f"layers.{len(self.layers) - 1}.filters",
                                "must be 1: the model predicts one channel",
                                self.layers[-1].filters)
        return self

    @model_validator(mode="after")
    def _sums_fit_the_exact_datapath(self) -> ModelConfig:
        """Refuse, before training, formats whose worst-case sums the exact fixed-point
        datapath cannot hold (`pipeline.fixedpoint.MAX_ACCUMULATOR_BITS`)."""
        too_wide = _too_wide_sum(self)
        if too_wide is None:
            return self
        needed, conv, index = too_wide
        quantizer = self.layer_kernel_quantizer(index)
        if not isinstance(quantizer, QuantizedPo2):
            raise ValueError(
                f"layers.{index}: {conv} needs {needed} accumulator bits for its worst case; "
                f"the exact fixed-point datapath holds at most {MAX_ACCUMULATOR_BITS} bits "
                "(narrow the input, kernel or activation formats)")
        field = (f"layers.{index}.kernel_quantizer" if self.layers[index].kernel_quantizer
                 else "kernel_quantizer")
        supported = next((f"bits <= {bits}" for bits in range(quantizer.bits - 1, 1, -1)
                          if _too_wide_sum(self._with_po2_bits(quantizer, bits)) is None),
                         "no width with these formats")
        raise ValueError(f"{field}: quantized_po2 with {quantizer.bits} bits needs "
                         f"{needed} accumulator bits in {conv} (the exact fixed-point datapath "
                         f"holds at most {MAX_ACCUMULATOR_BITS}); supported: {supported}")

    def _with_po2_bits(self, quantizer: QuantizedPo2, bits: int) -> ModelConfig:
        """This config with every kernel quantiser equal to `quantizer` (the model-wide
        default or a layer's) narrowed to `bits`; not validated again."""
        narrower = quantizer.model_copy(update={"bits": bits})
        layers = [layer.model_copy(update={"kernel_quantizer": narrower})
                  if layer.kernel_quantizer == quantizer else layer for layer in self.layers]
        default = narrower if self.kernel_quantizer == quantizer else self.kernel_quantizer
        return self.model_copy(update={"kernel_quantizer": default, "layers": layers})

    @property
    def receptive_field(self) -> int:
        """Samples of input that one output sample depends on: 1 + sum((K-1) * dilation)."""
        return 1 + sum((layer.kernel_size - 1) * layer.dilation for layer in self.layers)

    def layer_activation(self, index: int) -> Activation:
        layer = self.layers[index]
        if layer.activation is not None:
            return layer.activation
        return self.output_activation if index == len(self.layers) - 1 else self.activation

    def layer_kernel_quantizer(self, index: int) -> KernelQuantizer:
        return self.layers[index].kernel_quantizer or self.kernel_quantizer

    def layer_bias_quantizer(self, index: int) -> BiasQuantizer:
        return self.layers[index].bias_quantizer or self.bias_quantizer

    @property
    def scheme(self) -> str:
        """`po2` when any kernel is power-of-two quantised, else `fixed`."""
        po2 = any(
            isinstance(self.layer_kernel_quantizer(i), QuantizedPo2)
            for i in range(len(self.layers))
        )
        return "po2" if po2 else "fixed"


def _word_format(spec: QuantizedBits | QuantizedRelu | QuantizedPo2 | Linear
                 ) -> FixedFormat | Po2Format | None:
    if isinstance(spec, QuantizedPo2):
        return po2_format(spec.bits, spec.max_value)
    if isinstance(spec, QuantizedBits | QuantizedRelu):
        return FixedFormat(spec.bits, spec.integer, signed=isinstance(spec, QuantizedBits))
    return None


def _too_wide_sum(config: ModelConfig) -> tuple[int, str, int] | None:
    """The first convolution whose worst-case exact sum over its formats
    (`pipeline.fixedpoint.too_wide_sum`) is wider than MAX_ACCUMULATOR_BITS: (bits needed,
    its layer name as pipeline.model builds it, config layer index)."""
    specs, indices, channels = [], {}, INPUT_CHANNELS
    for index, layer in enumerate(config.layers):
        kernel = _word_format(config.layer_kernel_quantizer(index))
        bias = _word_format(config.layer_bias_quantizer(index))
        activation = _word_format(config.layer_activation(index))
        if activation is None and index == len(config.layers) - 1:
            activation = DEFAULT_OUTPUT_FORMAT  # a linear output word is this or coarser
        if layer.factorized_rank is None:
            convs = [(f"qconv_{index}", layer.kernel_size * channels, activation)]
        else:  # a linear F->P convolution, then P->F with the activation
            convs = [(f"qconv_{index}a", channels, None),
                     (f"qconv_{index}b", layer.factorized_rank, activation)]
        for name, fan_in, out in convs:
            specs.append(SumSpec(name, kernel, bias, fan_in, out))
            indices[name] = index
        channels = layer.filters
    found = too_wide_sum(_word_format(config.input_quantizer), specs)
    return None if found is None else (found[0], found[1], indices[found[1]])


# ---------------------------------------------------------------- params.yaml


class SplitCounts(_Strict):
    train: int = Field(ge=1)
    validation: int = Field(ge=1)
    test: int = Field(ge=1)


class SplitFractions(_Strict):
    train: float = Field(gt=0, lt=1)
    validation: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"fractions must sum to 1, they sum to {total:g}")
        return self


class SynthConfig(_Strict):
    """Synthesised data: see docs in `pipeline.synth` for every formula."""

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
            raise _FieldProblem("frequency_range_hz", "must be [low, high] with 0 < low < high",
                                self.frequency_range_hz)
        previous_high = low
        for index, band in enumerate(self.heldout_bands_hz):
            if len(band) != 2 or not previous_high < band[0] < band[1] < high:
                raise _FieldProblem(f"heldout_bands_hz.{index}", "held-out bands must be "
                                    "sorted, disjoint [low, high] pairs strictly inside "
                                    f"frequency_range_hz {self.frequency_range_hz}", band)
            previous_high = band[1]
        if self.heldout_test_fraction > 0 and not self.heldout_bands_hz:
            raise _FieldProblem("heldout_test_fraction", "a fraction above 0 needs at least one "
                                "band in heldout_bands_hz", self.heldout_test_fraction)
        return self


class RecordedConfig(_Strict):
    """Recorded input/target WAV pairs: see `pipeline.recorded` for what is measured and
    refused. `polarity`: auto flips an inverted channel, keep leaves it, refuse is an error.
    `level`: normalise brings both channels to amplitude 1 and no DC (the synthesised
    convention), keep leaves them. `max_fit_esr`: the worst accepted fit of the expected
    shape, as residual energy over the target's (mean-removed) energy."""

    dir: str = Field(min_length=1)
    segment_seconds: float = Field(gt=0)
    split_fractions: SplitFractions
    clip_level: float = Field(gt=0, le=1)
    max_latency_samples: int = Field(ge=0)
    latency: Literal["refuse", "align"] = "refuse"
    polarity: Literal["auto", "keep", "refuse"] = "auto"
    level: Literal["normalise", "keep"] = "normalise"
    max_fit_esr: float = Field(default=0.1, gt=0, lt=1)


class DataConfig(_Strict):
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
        _below_nyquist("synth.frequency_range_hz", self.synth.frequency_range_hz,
                       self.sample_rate)
        if segment_samples(self.synth.segment_seconds, self.sample_rate) < 1:
            raise _FieldProblem("synth.segment_seconds", f"rounds to 0 samples at sample_rate "
                                f"{self.sample_rate}", self.synth.segment_seconds)
        return self


def segment_samples(seconds: float, sample_rate: int) -> int:
    """A duration in whole samples, rounded as the synthesiser and the importer round it."""
    return round(seconds * sample_rate)


def _below_nyquist(field: str, range_hz: list[float], sample_rate: int) -> None:
    """A periodic wave above half the sample rate aliases to a lower frequency: refused."""
    if range_hz[1] >= sample_rate / 2:
        raise _FieldProblem(field, f"{range_hz[1]:g} Hz is not below the Nyquist frequency "
                            f"({sample_rate / 2:g} Hz at data.sample_rate {sample_rate})",
                            range_hz)


class TrainConfig(_Strict):
    """Training windows are `window_receptive_fields` receptive fields long (the blog's 10x)."""

    window_receptive_fields: int = Field(ge=2)
    batch_size: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=1)
    epochs: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    # cosine: decays from learning_rate to 0 over epochs x steps_per_epoch
    lr_schedule: Literal["constant", "cosine"]
    l2: float = Field(ge=0)
    early_stopping_patience: int = Field(ge=1)
    restarts: int = Field(ge=1)  # independent initialisations; the best on validation is kept


class TrackingConfig(_Strict):
    experiment: str = Field(default="waveshaper", min_length=1)


AP_MAX_WIDTH = 1024
"""Widest ap_(u)fixed / ap_(u)int the ap_types headers accept by default (AP_INT_MAX_W)."""
_AP_ROUNDING = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_INF",
                "AP_RND_MIN_INF", "AP_RND_CONV")
_AP_SATURATION = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")  # hls4ml has no AP_WRAP_SM


def _ap_type_problem(text: str) -> str | None:
    """What is wrong with an HLS precision string that hls4ml's converter would parse, or
    None: ap_(u)fixed<W,I[,Q[,O[,N]]]> or ap_(u)int<W>."""
    match = re.fullmatch(r"ap_u?(fixed|int)<([^<>]*)>", text)
    if match is None:
        return ("expected ap_fixed<W,I>, ap_ufixed<W,I> (optionally with ,Q,O,N), ap_int<W> "
                "or ap_uint<W>")
    kind, fields = match[1], [field.strip() for field in match[2].split(",")]
    if kind == "fixed" and not 2 <= len(fields) <= 5:
        return "ap_fixed takes <W,I[,Q[,O[,N]]]>"
    if kind == "int" and len(fields) != 1:
        return "ap_int takes <W>"
    if not re.fullmatch(r"[0-9]+", fields[0]) or not 1 <= int(fields[0]) <= AP_MAX_WIDTH:
        return f"the width W must be a whole number from 1 to {AP_MAX_WIDTH}"
    if len(fields) > 1 and not re.fullmatch(r"-?[0-9]+", fields[1]):
        return "the integer bits I must be a whole number"
    if len(fields) > 2 and fields[2] not in _AP_ROUNDING:
        return f"the rounding mode Q must be one of {', '.join(_AP_ROUNDING)}"
    if len(fields) > 3 and fields[3] not in _AP_SATURATION:
        return f"the saturation mode O must be one of {', '.join(_AP_SATURATION)}"
    if len(fields) > 4 and not re.fullmatch(r"[0-9]+", fields[4]):
        return "the saturation bits N must be a whole number"
    return None


REUSE_FACTOR_MAX = 2**32 - 1
"""The generated C++ holds a ReuseFactor in an `unsigned` constant."""


class HlsLayerConfig(_Strict):
    """Per-layer overrides. A precision here replaces the exact type the converter derives,
    so the design may no longer match the fixed-point reference word for word."""

    reuse_factor: int | None = Field(default=None, ge=1, le=REUSE_FACTOR_MAX)
    # e.g. ap_fixed<12,4,AP_RND_CONV,AP_SAT>
    result: str | None = None
    accum: str | None = None

    @field_validator("result", "accum")
    @classmethod
    def _hls_type(cls, text: str | None) -> str | None:
        if text is not None and (problem := _ap_type_problem(text)) is not None:
            raise _FieldProblem("", problem, text)
        return text


CLOCK_PERIOD_RANGE_NS = (0.5, 1000.0)
"""2 GHz, beyond any FPGA fabric clock, to 1 MHz, where a sample period at 48 kHz holds
only 20 clocks."""


class HlsConfig(_Strict):
    """The generated Vitis/Vivado HLS project: `reuse_factor` 1 accepts a sample every
    clock; R shares each multiplier between R products and accepts a sample every R clocks."""

    backend: Literal["Vitis", "Vivado"] = "Vitis"
    part: str = "xc7z020clg400-1"  # Zynq-7020 (PYNQ-Z2, Zybo Z7-20)
    clock_period_ns: float = 10.0
    reuse_factor: int = Field(default=1, ge=1, le=REUSE_FACTOR_MAX)
    layers: dict[str, HlsLayerConfig] = {}
    project_name: str = Field(default="myproject", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    testbench_samples: int = Field(default=48000, ge=1)
    # The input word of a model without an input quantiser (hls4ml's convention: W bits, I
    # of them integer bits counting the sign; ap_fixed<16,1> is [-1, 1) in steps of 2^-15).
    # It rounds half to even and saturates. A model's own input QActivation always wins.
    input_precision: str = "ap_fixed<16,1>"

    @field_validator("input_precision")
    @classmethod
    def _input_word(cls, value: str) -> str:
        parse_ap_fixed(value)
        return value

    @property
    def input_format(self) -> FixedFormat:
        """`input_precision` in the export's convention: fixed<W, I-1>, signed."""
        return parse_ap_fixed(self.input_precision)

    @field_validator("part")
    @classmethod
    def _part_name(cls, part: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", part):
            raise _FieldProblem("", "an FPGA part name such as xc7z020clg400-1: letters, digits, "
                                "'_', '-' and '.' (it goes into the project's Tcl script)", part)
        return part

    @field_validator("clock_period_ns")
    @classmethod
    def _physical_clock(cls, period: float) -> float:
        low, high = CLOCK_PERIOD_RANGE_NS
        if not low <= period <= high:
            raise _FieldProblem("", f"must be from {low:g} ns to {high:g} ns (a {1e3 / low:g} "
                                f"MHz to {1e3 / high:g} MHz clock)", period)
        return period


class SweepConfig(_Strict):
    """The validation sweep: a triangle gliding exponentially over `frequency_range_hz`
    while its embedding goes once round the border of the square, corner to corner."""

    seconds: float = Field(default=2.0, gt=0)
    frequency_range_hz: list[float] = Field(default=[30.0, 2000.0], min_length=2, max_length=2)

    @model_validator(mode="after")
    def _positive_range(self) -> SweepConfig:
        low, high = self.frequency_range_hz
        if not 0 < low <= high:
            raise _FieldProblem("frequency_range_hz", "must be [low, high] with 0 < low <= high",
                                self.frequency_range_hz)
        return self


LSD_FLOOR_RANGE_DB = (-200.0, 200.0)
"""Wider than the dynamic range of any output word up to 32 bits (about 193 dB), and the floor
stays a positive, finite float64 power for every such word."""


class ValidationConfig(_Strict):
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
            raise _FieldProblem("", f"must be from {low:g} to {high:g} dB", decibels)
        return decibels

    @model_validator(mode="after")
    def _hop_inside_frame(self) -> ValidationConfig:
        if self.stft_hop > self.stft_n_fft:
            raise _FieldProblem("stft_hop", f"must be at most stft_n_fft ({self.stft_n_fft}): "
                                "a longer hop skips samples between frames", self.stft_hop)
        return self


_MODEL_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


class Params(_Strict):
    seed: int = Field(ge=0)
    data: DataConfig
    train: TrainConfig
    tracking: TrackingConfig = TrackingConfig()
    hls: HlsConfig = HlsConfig()
    validation: ValidationConfig = ValidationConfig()
    models: list[str] = Field(min_length=1)

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, seed: int) -> int:
        if seed >= 2**32:
            raise _FieldProblem("", "must be below 2^32 = 4294967296 (TensorFlow's and NumPy's "
                                "global seeds are 32-bit)", seed)
        return seed

    @field_validator("models")
    @classmethod
    def _model_file_stems(cls, names: list[str]) -> list[str]:
        for index, name in enumerate(names):
            if not re.fullmatch(_MODEL_NAME, name):
                raise _FieldProblem(str(index), "a model name is the stem of a file in "
                                    "configs/models/: letters, digits, '_', '-' and '.', not "
                                    "starting with '.' or '-'", name)
            if name in names[:index]:
                raise _FieldProblem(str(index), f"{name!r} is listed twice", name)
        return names

    @model_validator(mode="after")
    def _sweep_fits(self) -> Params:
        rate, validation = self.data.sample_rate, self.validation
        _below_nyquist("validation.sweep.frequency_range_hz",
                       validation.sweep.frequency_range_hz, rate)
        samples = segment_samples(validation.sweep.seconds, rate)
        if samples < validation.stft_n_fft:
            raise _FieldProblem("validation.sweep.seconds", f"{samples} samples at "
                                f"data.sample_rate {rate}, fewer than one STFT frame "
                                f"(validation.stft_n_fft {validation.stft_n_fft})",
                                validation.sweep.seconds)
        return self


# ---------------------------------------------------------------- params against a model

EPOCH_WINDOWS_LIMIT_BYTES = 2**30
"""An epoch's training windows are built in memory at once, for every restart side by side
(`pipeline.training.epoch_windows`); 1 GiB keeps training within a small machine's memory
(the shipped params.yaml: 32 MiB)."""


def training_window(train: TrainConfig, model: ModelConfig) -> int:
    """Samples in one training window: `window_receptive_fields` receptive fields."""
    return train.window_receptive_fields * model.receptive_field


def _check_model_fits(params: Params, model: ModelConfig) -> None:
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
            raise _FieldProblem(field, f"{samples} samples at data.sample_rate {rate}, shorter "
                                f"than a training window: train.window_receptive_fields "
                                f"({train.window_receptive_fields}) x the receptive field of "
                                f"{model.name} ({model.receptive_field}) = {window} samples",
                                seconds)
    channels = INPUT_CHANNELS + 1  # the model's inputs and the target
    size = train.restarts * train.steps_per_epoch * train.batch_size * window * channels * 4
    if size > EPOCH_WINDOWS_LIMIT_BYTES:
        raise _FieldProblem("train.batch_size", f"an epoch's training windows for {model.name} "
                            f"(restarts {train.restarts} x steps_per_epoch "
                            f"{train.steps_per_epoch} x batch_size {train.batch_size} x "
                            f"{window} samples x {channels} float32 channels) take "
                            f"{size / 2**30:,.2f} GiB, more than the "
                            f"{EPOCH_WINDOWS_LIMIT_BYTES / 2**30:g} GiB limit",
                            train.batch_size)


# ---------------------------------------------------------------- loading


def _duplicate_key(node: yaml.Node, path: tuple[str, ...] = (),
                   visited: set[int] | None = None) -> str | None:
    """`field.path: duplicate key at line N (first at line M)` for the first mapping in the
    document that holds a key twice, or None (PyYAML would silently keep the last one).
    A node reached again through an alias is not walked twice (an alias may be recursive)."""
    visited = set() if visited is None else visited
    if id(node) in visited:
        return None
    visited.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            if (found := _duplicate_key(item, (*path, str(index)), visited)) is not None:
                return found
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                return (f"{'.'.join((*path, name))}: duplicate key at line "
                        f"{key.start_mark.line + 1} (first at line {seen[name]})")
            if name is not None:
                seen[name] = key.start_mark.line + 1
            if (found := _duplicate_key(value, (*path, name or "?"), visited)) is not None:
                return found
    return None


def _read_yaml(path: Path) -> dict:
    """A YAML file as a dict: UTF-8 text, valid YAML, a mapping, no key given twice."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at line "
                          f"{line}); save the file as UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        duplicate = None if node is None else _duplicate_key(node)
        if duplicate is not None:
            raise ConfigError(f"{path}: {duplicate}")
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _shown(value: object, limit: int = 120) -> str:
    """A value as the message shows it: its repr, on one line, shortened when long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe(err: ValidationError) -> str:
    """The first validation problem as `field.path: what is wrong (got value)`."""
    problem = err.errors()[0]
    # Discriminated unions put the tag in the location; it names no field, so drop it.
    location = [str(part) for part in problem["loc"] if not str(part).startswith("quantized_")
                and part != "linear"]
    if problem["type"] == "extra_forbidden":
        return f"{'.'.join(location) or '(top level)'}: unknown key"
    cause = problem.get("ctx", {}).get("error")
    if isinstance(cause, _FieldProblem):
        field = ".".join(part for part in (*location, cause.field) if part) or "(top level)"
        return f"{field}: {cause.message} (got {_shown(cause.value)})"
    message = problem["msg"].removeprefix("Value error, ")
    if not location and problem["type"] == "value_error":
        return message  # a model-level check names its field in the message
    field = ".".join(location) or "(top level)"
    if problem["type"] in ("value_error", "missing"):
        return f"{field}: {message}"
    hint = ""
    if problem["type"] == "float_type" and isinstance(problem["input"], str):
        hint = _yaml_float_hint(problem["input"])
    return f"{field}: {message}{hint} (got {_shown(problem['input'])})"


def _yaml_float_hint(text: str) -> str:
    """YAML 1.1 (PyYAML) reads 1e-3 and 1.0e3 as text: a float needs a dot and a signed
    exponent. The spelling it reads as the same number, for the message."""
    match = re.fullmatch(r"([-+]?[0-9]+)(\.[0-9]*)?[eE]([-+]?)([0-9]+)", text.strip())
    if match is None:
        return ""
    spelling = f"{match[1]}{match[2] or '.0'}e{match[3] or '+'}{match[4]}"
    return f"; YAML reads {text} as text: write {spelling}"


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(model: type[_Model], data: dict, path: Path) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {_describe(err)}") from None


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    return _validate(Params, _read_yaml(path), path)


def load_model_config(path: Path | str) -> ModelConfig:
    """Load `configs/models/<name>.yaml`; the model's name is the file's stem."""
    path = Path(path)
    data = _read_yaml(path)
    if "name" in data:
        raise ConfigError(f"{path}: name: unknown key (a model is named after its file)")
    return _validate(ModelConfig, {**data, "name": path.stem}, path)


def model_config_path(models_dir: Path | str, name: str) -> Path:
    return Path(models_dir) / f"{name}.yaml"


def load_configs(params_path: Path | str, models_dir: Path | str,
                 names: Sequence[str] | None = None) -> tuple[Params, list[ModelConfig]]:
    """params.yaml and the model configs `names` (default: every one in its `models`), each
    checked against params.yaml (the training window must fit in a data segment, an epoch's
    windows in memory), so that a stage stops before any work."""
    params_path, models_dir = Path(params_path), Path(models_dir)
    params = load_params(params_path)
    configs = []
    for name in params.models if names is None else names:
        path = model_config_path(models_dir, name)
        if not path.is_file():
            known = sorted(p.stem for p in models_dir.glob("*.yaml"))
            there = f"model configs in {models_dir}: {', '.join(known) or 'none'}"
            if name in params.models:
                raise ConfigError(f"{params_path}: models.{params.models.index(name)}: {path} "
                                  f"does not exist ({there}) (got {name!r})")
            raise ConfigError(f"{path}: no such model config ({there})")
        config = load_model_config(path)
        try:
            _check_model_fits(params, config)
        except _FieldProblem as problem:
            raise ConfigError(f"{params_path}: {problem.field}: {problem.message} "
                              f"(got {_shown(problem.value)})") from None
        configs.append(config)
    return params, configs
