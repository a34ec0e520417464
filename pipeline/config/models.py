"""A model config, `configs/models/<name>.yaml`: the causal dilated QConv1D stack and its
QKeras quantisers, checked so that what trains can also be exported exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from pipeline.config.base import FieldProblem, Strict
from pipeline.data.shapes import INPUT_CHANNELS
from pipeline.fixed.output import DEFAULT_OUTPUT_FORMAT
from pipeline.fixed.rules import MAX_ACCUMULATOR_BITS, SumSpec, receptive_field, too_wide_sum
from pipeline.fixed.words import FixedFormat, Po2Format, po2_format

# ---------------------------------------------------------------- quantisers


class QuantizedBits(Strict):
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


class QuantizedRelu(Strict):
    """QKeras `quantized_relu(bits, integer)`: unsigned, step 2^-(bits-integer)."""

    type: Literal["quantized_relu"]
    bits: int
    integer: int = Field(ge=0)

    @field_validator("bits")
    @classmethod
    def _exportable_width(cls, bits: int) -> int:
        if not 2 <= bits <= 31:
            raise FieldProblem("", "quantized_relu supports 2 to 31 bits (the export refuses "
                                "32 or more)", bits)
        return bits

    @model_validator(mode="after")
    def _integer_fits(self) -> QuantizedRelu:
        if self.integer > self.bits:
            raise ValueError(f"integer ({self.integer}) must be at most bits ({self.bits})")
        return self


class QuantizedPo2(Strict):
    """QKeras `quantized_po2(bits, max_value)`: sign and a power-of-two exponent."""

    type: Literal["quantized_po2"]
    bits: int = Field(ge=2, le=16)
    max_value: float | None = Field(default=None, gt=0)


class Linear(Strict):
    """No activation: the layer's accumulator is its output."""

    type: Literal["linear"]


def _fixed_point_bias(value: object) -> object:
    """A bias is added to the accumulator as a fixed-point word: only `quantized_bits`."""
    if isinstance(value, dict) and value.get("type", "quantized_bits") != "quantized_bits":
        raise FieldProblem("type", "a bias quantiser must be quantized_bits (the export stores "
                            "every bias as a fixed-point word; quantized_po2 is for kernels)",
                            value["type"])
    return value


KernelQuantizer = Annotated[QuantizedBits | QuantizedPo2, Field(discriminator="type")]
BiasQuantizer = Annotated[QuantizedBits, BeforeValidator(_fixed_point_bias)]
Activation = Annotated[QuantizedRelu | QuantizedBits | Linear, Field(discriminator="type")]


# ---------------------------------------------------------------- model architecture


class LayerConfig(Strict):
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
            raise FieldProblem("kernel_size", "factorized_rank needs kernel_size 1 (a pair of "
                                "1x1 convolutions)", self.kernel_size)
        return self


@dataclass(frozen=True)
class ConvSpec:
    """One QConv1D of a model config, as the model is built: a layer with `factorized_rank`
    gives two. `activation` follows the convolution (None inside a factorised pair, where
    the first convolution's sum goes on whole); `layer` is the config layer's index."""

    name: str
    layer: int
    kernel_size: int
    dilation: int
    in_channels: int
    out_channels: int
    kernel_quantizer: KernelQuantizer
    bias_quantizer: BiasQuantizer
    activation: Activation | None


class ModelConfig(Strict):
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
            raise FieldProblem(f"layers.{len(self.layers) - 1}.filters",
                                "must be 1: the model predicts one channel",
                                self.layers[-1].filters)
        return self

    @model_validator(mode="after")
    def _sums_fit_the_exact_datapath(self) -> ModelConfig:
        """Refuse, before training, formats whose worst-case sums the exact fixed-point
        datapath cannot hold (`pipeline.fixed.rules.MAX_ACCUMULATOR_BITS`)."""
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
        return receptive_field((layer.kernel_size, layer.dilation) for layer in self.layers)

    def convolutions(self) -> list[ConvSpec]:
        """The model's convolutions in order, named as the built model names them
        (`qconv_<i>`, or `qconv_<i>a` and `qconv_<i>b` for a factorised pair): export and HLS
        conversion look layers up by these names."""
        specs, channels = [], INPUT_CHANNELS
        for index, layer in enumerate(self.layers):
            quantizers = (self.layer_kernel_quantizer(index), self.layer_bias_quantizer(index))
            activation = self.layer_activation(index)
            if layer.factorized_rank is None:
                specs.append(ConvSpec(f"qconv_{index}", index, layer.kernel_size,
                                      layer.dilation, channels, layer.filters, *quantizers,
                                      activation))
            else:  # a linear F->P convolution, then P->F with the activation
                rank = layer.factorized_rank
                specs += [ConvSpec(f"qconv_{index}a", index, 1, 1, channels, rank, *quantizers,
                                   None),
                          ConvSpec(f"qconv_{index}b", index, 1, 1, rank, layer.filters,
                                   *quantizers, activation)]
            channels = layer.filters
        return specs

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
    (`pipeline.fixed.rules.too_wide_sum`) is wider than MAX_ACCUMULATOR_BITS: (bits needed,
    its name, config layer index)."""
    convs = config.convolutions()
    specs = []
    for index, conv in enumerate(convs):
        out = None if conv.activation is None else _word_format(conv.activation)
        if out is None and conv.activation is not None and index == len(convs) - 1:
            out = DEFAULT_OUTPUT_FORMAT  # a linear output word is this or coarser
        specs.append(SumSpec(conv.name, _word_format(conv.kernel_quantizer),
                             _word_format(conv.bias_quantizer),
                             conv.kernel_size * conv.in_channels, out))
    found = too_wide_sum(_word_format(config.input_quantizer), specs)
    if found is None:
        return None
    return found[0], found[1], next(conv.layer for conv in convs if conv.name == found[1])
