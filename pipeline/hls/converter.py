"""Exported model -> hls4ml `ModelGraph` of `CachedConv1D` layers (hls4ml's converter step).

The QKeras model is read by `pipeline.fixed.reader.from_qkeras`, which refuses anything the
streaming datapath cannot represent (other padding, strides, unknown layers, activations or
quantisers, sums wider than the exact datapath holds) with an error naming the layer. Every
C++ type is then derived from the exported formats and the accumulator rule
(`pipeline.fixed.rules.accumulator`) that the fixed-point reference uses too, so the design
computes the same words:

- activations: `ap_ufixed<bits, integer>` (quantized_relu) or `ap_fixed<bits, integer+1>`
  (quantized_bits, and a linear last layer's output word), rounding half to even and
  saturating (AP_RND_CONV, AP_SAT) as QKeras's quantisers do;
- accumulators: the rule's worst case for these weights at the products' LSB, so sums are
  exact;
  a linear layer inside the model (the first of a po2 pair) passes it on at full width;
- kernels: `ap_fixed` words, or hls4ml exponent types `{sign, shift}` for po2 (shifts); an
  exact zero po2 weight (QKeras flushes 2^shift below 2^-126 to 0) is a shift one below
  the format's range, which the layer reads as 0.

The model gets two inputs, the sample `x` (C_in values) and `reset` (one bit, clears every
cache before this sample is processed), and one output vector per call.
"""

from __future__ import annotations

import hls4ml
import numpy as np
from hls4ml.model import ModelGraph
from hls4ml.model.types import (
    ExponentPrecisionType,
    FixedPrecisionType,
    IntegerPrecisionType,
    RoundingMode,
    SaturationMode,
)

from pipeline.config import HlsConfig
from pipeline.fixed.ir import ExportedModel, ExportError, po2_fields
from pipeline.fixed.rules import Accumulator
from pipeline.fixed.words import FixedFormat, Po2Format
from pipeline.hls.layers import register

INPUT_NAME = "x"
RESET_NAME = "reset"


def fixed_type(fmt: FixedFormat, quantise: bool = True) -> FixedPrecisionType:
    """The ap_(u)fixed of a FixedFormat; `quantise` adds QKeras's rounding and saturation."""
    modes = {"rounding_mode": RoundingMode.RND_CONV,
             "saturation_mode": SaturationMode.SAT} if quantise else {}
    return FixedPrecisionType(fmt.bits, fmt.integer + int(fmt.signed), fmt.signed, **modes)


def accumulator_type(acc: Accumulator) -> FixedPrecisionType:
    return FixedPrecisionType(acc.bits, acc.bits - acc.frac, True)


def _exponent_type(fmt: Po2Format, zero: bool) -> tuple[ExponentPrecisionType, int]:
    """The shift type of a po2 kernel, and the shift that stands for an exact zero (one
    below the format's range; the type is widened to hold it only when zeros occur)."""
    low = fmt.min_shift - 1 if zero else fmt.min_shift
    width = max(fmt.max_shift.bit_length(), (-low - 1).bit_length()) + 1
    return ExponentPrecisionType(width, signed=True), fmt.min_shift - 1


def layer_list(exported: ExportedModel, config: HlsConfig) -> list[dict]:
    """hls4ml's layer list: the two inputs, then one CachedConv1D per exported layer."""
    channels = exported.layers[0].in_channels
    layers = [
        {"class_name": "InputLayer", "name": INPUT_NAME, "input_shape": [channels]},
        {"class_name": "InputLayer", "name": RESET_NAME, "input_shape": [1]},
    ]
    previous = INPUT_NAME
    for index, (layer, acc) in enumerate(zip(exported.layers, exported.accumulators(),
                                             strict=True)):
        accum = accumulator_type(acc)
        last = index == len(exported.layers) - 1
        out_format = layer.activation or (exported.output_format if last else None)
        result = accum if out_format is None else fixed_type(out_format)
        overrides = config.layers.get(layer.name)
        if overrides is not None:
            backend = hls4ml.backends.get_backend(config.backend)
            if overrides.accum:
                accum = backend.convert_precision_string(overrides.accum)
            if overrides.result:
                result = backend.convert_precision_string(overrides.result)
        entry = {
            "class_name": "CachedConv1D", "name": layer.name,
            "inputs": [previous, RESET_NAME],
            "n_in": layer.in_channels, "n_out": layer.out_channels,
            "kernel_size": layer.kernel_size, "dilation": layer.dilation,
            "multiplies": layer.multiplies, "relu": layer.relu,
            "result_precision": result, "accum_precision": accum,
            "bias_precision": fixed_type(layer.bias_format, quantise=False),
            "bias_data": layer.bias * 2.0**-layer.bias_format.frac,
            "weight_data": (layer.kernel * 2.0**-layer.kernel_frac).reshape(-1),
        }
        if isinstance(layer.kernel_format, Po2Format):
            sign, shift, zero = po2_fields(layer)
            precision, zero_shift = _exponent_type(layer.kernel_format, bool(zero.any()))
            entry.update(kernel_encoding="po2_or_zero" if zero.any() else "po2",
                         weight_precision=precision, po2_sign=sign.reshape(-1),
                         po2_shift=np.where(zero, zero_shift, shift).reshape(-1),
                         po2_zero_shift=zero_shift)
        else:
            entry.update(kernel_encoding="fixed",
                         weight_precision=fixed_type(layer.kernel_format, quantise=False))
        layers.append(entry)
        previous = layer.name
    return layers


def check_layer_config(exported: ExportedModel, config: HlsConfig) -> None:
    """Per-layer settings must name layers of the model."""
    unknown = sorted(set(config.layers) - {layer.name for layer in exported.layers})
    if unknown:
        raise ExportError(f"hls.layers: {', '.join(unknown)} is not a layer of "
                          f"{exported.name} (layers: "
                          f"{', '.join(layer.name for layer in exported.layers)})")


def model_graph(exported: ExportedModel, output_dir: str, config: HlsConfig) -> ModelGraph:
    """The hls4ml model of the exported network, ready for `write()`."""
    register()
    check_layer_config(exported, config)
    layers = layer_list(exported, config)
    hls_config = hls4ml.utils.config.create_config(
        output_dir=output_dir, project_name=config.project_name, backend=config.backend,
        part=config.part, clock_period=config.clock_period_ns, io_type="io_parallel",
        write_weights_txt=False)
    hls_config["HLSConfig"] = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": config.reuse_factor,
                  "Strategy": "Latency"},
        "LayerName": {
            INPUT_NAME: {"Precision": {"result": fixed_type(exported.input_format)}},
            RESET_NAME: {"Precision": {"result": IntegerPrecisionType(1, signed=False)}},
            **{name: {"ReuseFactor": layer.reuse_factor} for name, layer in config.layers.items()
               if layer.reuse_factor is not None},
        },
    }
    return ModelGraph.from_layer_list(hls_config, layers, inputs=[INPUT_NAME, RESET_NAME],
                                      outputs=[layers[-1]["name"]])
