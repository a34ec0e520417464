"""Typed configuration: `params.yaml` (data, training, tracking) and `configs/models/*.yaml`.

Files are validated once, here, into frozen objects; the library takes these objects, never
raw dicts. Every problem is reported as one line naming the file and the field, before any
work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError

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
    """Unknown keys and silently coerced types are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
    bits: int = Field(ge=2, le=32)
    integer: int = Field(ge=0)

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


KernelQuantizer = Annotated[QuantizedBits | QuantizedPo2, Field(discriminator="type")]
BiasQuantizer = Annotated[QuantizedBits | QuantizedPo2, Field(discriminator="type")]
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
            raise ValueError("factorized_rank needs kernel_size 1 (a pair of 1x1 convolutions)")
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
            raise ValueError(
                f"layers.{len(self.layers) - 1}.filters must be 1: the model predicts one channel"
            )
        return self

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
            raise ValueError(f"frequency_range_hz must be [low, high] with 0 < low < high, got "
                             f"{self.frequency_range_hz}")
        previous_high = low
        for band in self.heldout_bands_hz:
            if len(band) != 2 or not previous_high < band[0] < band[1] < high:
                raise ValueError(
                    "heldout_bands_hz must be sorted, disjoint [low, high] pairs strictly inside "
                    f"frequency_range_hz, got {band}"
                )
            previous_high = band[1]
        if self.heldout_test_fraction > 0 and not self.heldout_bands_hz:
            raise ValueError("heldout_test_fraction > 0 needs at least one heldout_bands_hz band")
        return self


class RecordedConfig(_Strict):
    """Recorded input/target WAV pairs: see `pipeline.recorded`."""

    dir: str
    segment_seconds: float = Field(gt=0)
    split_fractions: SplitFractions
    clip_level: float = Field(gt=0, le=1)
    max_latency_samples: int = Field(ge=0)
    latency: Literal["refuse", "align"] = "refuse"


class DataConfig(_Strict):
    sample_rate: int = Field(ge=8000)
    source: Literal["synth", "recorded", "both"] = "synth"
    synth: SynthConfig
    recorded: RecordedConfig | None = None

    @model_validator(mode="after")
    def _recorded_given(self) -> DataConfig:
        if self.source != "synth" and self.recorded is None:
            raise ValueError(f"source '{self.source}' needs a 'recorded' section")
        return self


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


_AP_TYPE = r"^ap_u?(fixed|int)<[0-9, A-Z_]+>$"


class HlsLayerConfig(_Strict):
    """Per-layer overrides. A precision here replaces the exact type the converter derives,
    so the design may no longer match the fixed-point reference word for word."""

    reuse_factor: int | None = Field(default=None, ge=1)
    # This layer's own sample rate for its fold (pipeline.folding.fold_for_rate).
    target_sample_rate_hz: float | None = Field(default=None, gt=0)
    # e.g. ap_fixed<12,4,AP_RND_CONV,AP_SAT>
    result: str | None = Field(default=None, pattern=_AP_TYPE)
    accum: str | None = Field(default=None, pattern=_AP_TYPE)


class HlsConfig(_Strict):
    """The generated Vitis/Vivado HLS project: `reuse_factor` 1 accepts a sample every
    clock; R shares each multiplier between R products and accepts a sample every R clocks."""

    backend: Literal["Vitis", "Vivado"] = "Vitis"
    part: str = Field(default="xc7z020clg400-1", min_length=1)  # Zynq-7020 (PYNQ-Z2, Zybo Z7-20)
    clock_period_ns: float = Field(default=10.0, gt=0)
    # The sample rate the folded designs (RTL, HLS) must keep up with at this clock: each
    # layer gets the fewest product lanes whose interval fits one sample period.
    target_sample_rate_hz: float = Field(default=192000.0, gt=0)
    reuse_factor: int = Field(default=1, ge=1)
    layers: dict[str, HlsLayerConfig] = {}
    project_name: str = Field(default="myproject", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    testbench_samples: int = Field(default=48000, ge=1)


class RtlConfig(_Strict):
    """The RTL design (pipeline/rtl): folded like the HLS design (`hls.clock_period_ns`,
    `hls.target_sample_rate_hz`, `hls.layers`), simulated with CXXRTL, synthesised with
    yosys and placed and routed with nextpnr-ecp5."""

    sim_processes: int = Field(default=2, ge=1)  # CXXRTL simulations run side by side
    place_and_route: bool = True  # nextpnr-ecp5 in the synth stage (Fmax, placed cells)
    pnr_seed: int = Field(default=1, ge=1)


class SweepConfig(_Strict):
    """The validation sweep: a triangle gliding exponentially over `frequency_range_hz`
    while its embedding goes once round the border of the square, corner to corner."""

    seconds: float = Field(default=2.0, gt=0)
    frequency_range_hz: list[float] = Field(default=[30.0, 2000.0], min_length=2, max_length=2)

    @model_validator(mode="after")
    def _positive_range(self) -> SweepConfig:
        low, high = self.frequency_range_hz
        if not 0 < low <= high:
            raise ValueError(f"frequency_range_hz must be [low, high] with 0 < low <= high, "
                             f"got {self.frequency_range_hz}")
        return self


class ValidationConfig(_Strict):
    """The validate stage: the signals and the STFT of the log-spectral distance."""

    sweep: SweepConfig = SweepConfig()
    stft_n_fft: int = Field(default=2048, ge=16)
    stft_hop: int = Field(default=512, ge=1)
    # The LSD's floor before the log, in dB above the output word's rounding noise per bin.
    lsd_floor_above_rounding_noise_db: float = 10.0
    csim_threads: int = Field(default=2, ge=1)  # copies of the C simulation run side by side


class Params(_Strict):
    seed: int = Field(ge=0)
    data: DataConfig
    train: TrainConfig
    tracking: TrackingConfig = TrackingConfig()
    hls: HlsConfig = HlsConfig()
    rtl: RtlConfig = RtlConfig()
    validation: ValidationConfig = ValidationConfig()
    models: list[str] = Field(min_length=1)


# ---------------------------------------------------------------- loading


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _describe(err: ValidationError) -> str:
    """The first validation problem as `field.path: what is wrong (got value)`."""
    problem = err.errors()[0]
    # Discriminated unions put the tag in the location; it names no field, so drop it.
    location = [str(part) for part in problem["loc"] if not str(part).startswith("quantized_")
                and part != "linear"]
    field = ".".join(location) or "(top level)"
    if problem["type"] == "extra_forbidden":
        return f"{field}: unknown key"
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] in ("value_error", "missing"):
        return f"{field}: {message}"
    return f"{field}: {message} (got {problem['input']!r})"


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
