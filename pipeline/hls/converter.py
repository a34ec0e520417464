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

Each layer is folded by `pipeline.fixed.folding.layer_folds` (the rule the RTL design and
the cost model use): its weights and biases are written in the order the folded loop reads
them (`pass_weights`, `lane_biases`), and its ReuseFactor is the fold's passes. The model's
input `x` (C_in values) and every layer's output travel as one sample per call, with the
start-of-stream flag (`pipeline.hls.project` writes the AXI4-Stream top).
"""

from __future__ import annotations

import hls4ml
import numpy as np
from hls4ml.model import ModelGraph
from hls4ml.model.types import (
    ExponentPrecisionType,
    FixedPrecisionType,
    RoundingMode,
    SaturationMode,
)

from pipeline.config import HlsConfig
from pipeline.fixed.folding import Fold, dealt_rows, layer_folds, line_slots
from pipeline.fixed.ir import ConvLayer, ExportedModel, ExportError, po2_fields
from pipeline.fixed.rules import Accumulator
from pipeline.fixed.words import FixedFormat, Po2Format
from pipeline.hls.layers import register

INPUT_NAME = "x"


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


def pass_weights(layer: ConvLayer, fold: Fold, table: np.ndarray) -> np.ndarray:
    """`table` (K, C_in, C_out, ...): one entry per weight) in the folded layer's order,
    lane-major: lane k = l * outputs + o at k * passes + pass. Pass p = g * row_passes + q
    gives row lane l the row n = q * rows + l (channel n // K, tap n % K, kernel index
    K-1-tap) and output lane o the output g * outputs + o. Slots beyond the layer's rows or
    outputs hold entry [0, 0, 0] (never used: their operand is 0, their sum discarded)."""
    kernel_size = layer.kernel_size
    shape = (fold.rows, fold.outputs, fold.output_passes, fold.row_passes, *table.shape[3:])
    ordered = np.broadcast_to(table[0, 0, 0], shape).copy()
    for lane in range(fold.rows):
        for q, row in enumerate(dealt_rows(fold, lane)):
            channel, tap = divmod(row, kernel_size)
            for out in range(layer.out_channels):
                group, out_lane = divmod(out, fold.outputs)
                ordered[lane, out_lane, group, q] = table[kernel_size - 1 - tap, channel, out]
    return ordered.reshape(fold.lanes * fold.passes, *table.shape[3:])


def lane_biases(values: np.ndarray, fold: Fold) -> np.ndarray:
    """Biases output-lane-major: output g * outputs + o at o * output_passes + g; padding 0."""
    padded = np.zeros(fold.outputs * fold.output_passes, dtype=values.dtype)
    padded[:len(values)] = values
    return padded.reshape(fold.output_passes, fold.outputs).T.reshape(-1)


def layer_list(exported: ExportedModel, config: HlsConfig) -> list[dict]:
    """hls4ml's layer list: the input, then one CachedConv1D per exported layer, folded."""
    channels = exported.layers[0].in_channels
    layers = [{"class_name": "InputLayer", "name": INPUT_NAME, "input_shape": [channels]}]
    previous = INPUT_NAME
    folds = layer_folds(exported, config)
    for index, (layer, acc, fold) in enumerate(zip(exported.layers, exported.accumulators(),
                                                   folds, strict=True)):
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
        kernel = layer.kernel * 2.0**-layer.kernel_frac
        entry = {
            "class_name": "CachedConv1D", "name": layer.name, "inputs": [previous],
            "n_in": layer.in_channels, "n_out": layer.out_channels,
            "kernel_size": layer.kernel_size, "dilation": layer.dilation,
            # "outputs" is hls4ml's own key (a layer's output names): lanes get other names.
            "output_lanes": fold.outputs, "row_lanes": fold.rows, "row_passes": fold.row_passes,
            "output_passes": fold.output_passes, "passes": fold.passes, "lanes": fold.lanes,
            "line_slots": line_slots(fold, layer.kernel_size), "relu": layer.relu,
            "result_precision": result, "accum_precision": accum,
            "bias_precision": fixed_type(layer.bias_format, quantise=False),
            "bias_data": lane_biases(layer.bias * 2.0**-layer.bias_format.frac, fold),
            "weight_data": pass_weights(layer, fold, kernel),
        }
        if isinstance(layer.kernel_format, Po2Format):
            sign, shift, zero = po2_fields(layer)
            precision, zero_shift = _exponent_type(layer.kernel_format, bool(zero.any()))
            entry.update(kernel_encoding="po2_or_zero" if zero.any() else "po2",
                         weight_precision=precision,
                         po2_sign=pass_weights(layer, fold, sign),
                         po2_shift=pass_weights(layer, fold, np.where(zero, zero_shift, shift)),
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
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerName": {
            INPUT_NAME: {"Precision": {"result": fixed_type(exported.input_format)}},
            # hls4ml's ReuseFactor of a layer is its fold's passes.
            **{entry["name"]: {"ReuseFactor": entry["passes"]} for entry in layers[1:]},
        },
    }
    return ModelGraph.from_layer_list(hls_config, layers, inputs=[INPUT_NAME],
                                      outputs=[layers[-1]["name"]])
