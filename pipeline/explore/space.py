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


class Refused(Exception):
    """The sampled design is one the configs or the fold refuse; the message is one line."""


def sample(trial: optuna.Trial, space: SearchSpace, params: Params) -> Candidate:
    """The trial's design. Raises `Refused` for a design the project cannot build."""
    scheme = trial.suggest_categorical("scheme", space.schemes)
    count = trial.suggest_int("layers", *space.layers)
    filters = trial.suggest_categorical("filters", space.filters)
    kernel_size = trial.suggest_categorical("kernel_size", space.kernel_sizes)
    growth = trial.suggest_categorical("dilation_growth", space.dilation_growth)
    bits = trial.suggest_categorical("kernel_bits", space.kernel_bits)
    integer = trial.suggest_categorical("kernel_integer_bits", space.kernel_integer_bits)
    activation_bits = trial.suggest_categorical("activation_bits", space.activation_bits)
    rate = trial.suggest_categorical("sample_rate_hz", space.sample_rates_hz)
    po2_after = rank = po2_bits = None
    if scheme == "po2":
        po2_after = trial.suggest_int("po2_after", 0, count - 2)
        rank = trial.suggest_categorical("po2_rank", space.po2_ranks)
        po2_bits = trial.suggest_categorical("po2_bits", space.po2_bits)
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
        raise Refused(f"trial {trial.number}: model config: {describe(err)}") from None
    except FieldProblem as problem:
        raise Refused(f"trial {trial.number}: params.yaml {problem.field}: "
                      f"{problem.message}") from None
    clock_hz = 1e9 / params.hls.clock_period_ns
    try:
        for conv in config.convolutions():
            fold_for_rate(conv.kernel_size * conv.in_channels, conv.out_channels, clock_hz,
                          rate)
    except FoldError as err:
        raise Refused(f"trial {trial.number}: fold: {err}") from None
    return Candidate(config, float(rate))
