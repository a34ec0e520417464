"""The search space: an Optuna trial's choices as a model config and a fold.

Every sampled design is checked by the same validation as a hand-written config
(`pipeline.config`: the exact datapath's accumulator limit, the training window against the
data segments) and by the fold's rules (`pipeline.fixed.folding`); a design they refuse is
pruned with their one-line reason, before any training."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import yaml
from pydantic import ValidationError

from pipeline.config import ModelConfig, Params, SearchSpace
from pipeline.config.base import FieldProblem
from pipeline.config.files import describe
from pipeline.config.params import check_model_fits
from pipeline.fixed.folding import FoldError, fold_for_rate

ACTIVATION_INTEGER_BITS = 4  # the defaults' quantised ReLU saturates at 16
INPUT_WORD = {"type": "quantized_bits", "bits": 16, "integer": 0}  # a 16-bit audio word


@dataclass(frozen=True)
class Candidate:
    """One design of the study: the model config (named after its trial) and the sample
    rate its fold must sustain."""

    config: ModelConfig
    sample_rate_hz: float

    def config_yaml(self) -> str:
        """The config as a `configs/models/<name>.yaml` file holds it (no `name` key)."""
        data = self.config.model_dump(mode="json", exclude={"name"}, exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False)


def dilations(layers: int, growth: str, largest: int) -> list[int]:
    """1, 2, 4, ... (`every_layer`) or 1, 1, 2, 2, 4, ... (`every_two_layers`), none above
    `largest`."""
    step = 1 if growth == "every_layer" else 2
    return [min(2 ** (index // step), largest) for index in range(layers)]


def model_layers(filters: int, kernel_size: int, dilation: list[int],
                 po2_after: int | None, po2_rank: int, po2_bits: int) -> list[dict]:
    """The layer list: `filters`-wide convolutions, the last of one filter; with
    `po2_after`, a po2 1x1 pair filters->rank->filters after that convolution."""
    layers = [{"filters": 1 if index == len(dilation) - 1 else filters,
               "kernel_size": kernel_size, "dilation": step}
              for index, step in enumerate(dilation)]
    if po2_after is not None:
        pair = {"filters": filters, "kernel_size": 1, "factorized_rank": po2_rank,
                "kernel_quantizer": {"type": "quantized_po2", "bits": po2_bits,
                                     "max_value": 1.0}}
        layers.insert(po2_after + 1, pair)
    return layers


CHOICES = {"scheme": "schemes", "filters": "filters", "kernel_size": "kernel_sizes",
           "dilation_growth": "dilation_growth", "kernel_bits": "kernel_bits",
           "kernel_integer_bits": "kernel_integer_bits", "activation_bits": "activation_bits",
           "sample_rate_hz": "sample_rates_hz", "po2_rank": "po2_ranks", "po2_bits": "po2_bits"}
"""Each categorical choice of a trial and the `SearchSpace` list it is drawn from."""


class Refused(Exception):
    """The sampled design is one the configs or the fold refuse; the message is one line."""


def sample(trial: optuna.Trial, space: SearchSpace, params: Params) -> Candidate:
    """The trial's design. Raises `Refused` for a design the project cannot build, with the
    reason only: the caller names the trial or the model."""
    def pick(name: str):
        return trial.suggest_categorical(name, getattr(space, CHOICES[name]))

    scheme = pick("scheme")
    count = trial.suggest_int("layers", *space.layers)
    filters, kernel_size, growth = pick("filters"), pick("kernel_size"), pick("dilation_growth")
    bits, integer = pick("kernel_bits"), pick("kernel_integer_bits")
    activation_bits, rate = pick("activation_bits"), pick("sample_rate_hz")
    po2_after = rank = po2_bits = None
    if scheme == "po2":
        po2_after = trial.suggest_int("po2_after", 0, count - 2)
        rank, po2_bits = pick("po2_rank"), pick("po2_bits")
    fixed = {"type": "quantized_bits", "bits": bits, "integer": integer}
    data = {
        "name": f"trial_{trial.number}",
        "description": f"Optuna trial {trial.number}: {scheme}, {count} layers of {filters} "
                       f"filters, K={kernel_size}, dilations {growth.replace('_', ' ')}, "
                       f"{bits}-bit kernels, {activation_bits}-bit activations, folded for "
                       f"{rate:g} Hz.",
        "input_quantizer": INPUT_WORD,
        "kernel_quantizer": fixed,
        "bias_quantizer": fixed,
        "activation": {"type": "quantized_relu", "bits": activation_bits,
                       "integer": ACTIVATION_INTEGER_BITS},
        "output_activation": {"type": "linear"},
        "layers": model_layers(filters, kernel_size,
                               dilations(count, growth, space.max_dilation), po2_after,
                               rank or 1, po2_bits or 2),
    }
    try:
        config = ModelConfig.model_validate(data)
        check_model_fits(params, config)
    except ValidationError as err:
        raise Refused(f"model config: {describe(err)}") from None
    except FieldProblem as problem:
        raise Refused(f"params.yaml {problem.field}: {problem.message}") from None
    clock_hz = 1e9 / params.hls.clock_period_ns
    try:
        for conv in config.convolutions():
            fold_for_rate(conv.kernel_size * conv.in_channels, conv.out_channels, clock_hz,
                          rate)
    except FoldError as err:
        raise Refused(f"fold: {err}") from None
    return Candidate(config, float(rate))


def choices_of(config: ModelConfig, sample_rate_hz: float, space: SearchSpace,
               params: Params) -> dict[str, object]:
    """The trial choices that build `config` folded for `sample_rate_hz`: how a hand-written
    model (a baseline) enters a study. Raises `Refused` for a design outside the space."""
    convolutions = [layer for layer in config.layers if not layer.factorized_rank]
    pairs = [index for index, layer in enumerate(config.layers) if layer.factorized_rank]
    first, kernel = convolutions[0], config.kernel_quantizer
    growth = next((g for g in space.dilation_growth
                   if dilations(len(convolutions), g, space.max_dilation)
                   == [layer.dilation for layer in convolutions]), space.dilation_growth[0])
    choices = {"scheme": config.scheme, "layers": len(convolutions), "filters": first.filters,
               "kernel_size": first.kernel_size, "dilation_growth": growth,
               "kernel_bits": getattr(kernel, "bits", None),
               "kernel_integer_bits": getattr(kernel, "integer", None),
               "activation_bits": getattr(config.activation, "bits", None),
               "sample_rate_hz": sample_rate_hz}
    if pairs:
        pair = config.layers[pairs[0]]
        choices.update(po2_after=pairs[0] - 1, po2_rank=pair.factorized_rank,
                       po2_bits=getattr(pair.kernel_quantizer, "bits", None))
    for name, value in choices.items():
        if name in CHOICES and value not in (allowed := getattr(space, CHOICES[name])):
            raise Refused(f"{config.name}: outside the search space ({name} {value} is not "
                          f"one of explore.space.{CHOICES[name]} {allowed})")
    if not space.layers[0] <= len(convolutions) <= space.layers[1]:
        raise Refused(f"{config.name}: outside the search space ({len(convolutions)} "
                      f"convolutions, explore.space.layers is {space.layers})")
    try:
        built = sample(optuna.trial.FixedTrial(choices), space, params).config
    except Refused as refused:
        raise Refused(f"{config.name}: {refused}") from None
    fields = {"name", "description"}
    wanted, got = (c.model_dump(mode="json", exclude=fields, exclude_none=True)
                   for c in (config, built))
    different = [key for key in wanted if wanted[key] != got.get(key)]
    if different:
        raise Refused(f"{config.name}: outside the search space ({different[0]}: not as the "
                      f"space builds them, docs/explore.md \"The space\")")
    return choices
