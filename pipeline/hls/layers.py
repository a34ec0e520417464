"""hls4ml extension: the `CachedConv1D` layer, its C++ templates and its HLS source.

Stock hls4ml (up to 1.3.0, issue #1508) ignores `dilation_rate` and its streaming Conv1D
forgets its history at every frame, so the WaveNet's convolutions are a layer of our own,
registered through hls4ml's extension API (`register_layer`, `backend.register_template`,
`backend.register_source`) for the Vivado and Vitis backends. hls4ml's installed files are
not touched. The C++ is `nnet_utils/nnet_cached_conv1d.h` (the layer) and
`nnet_utils/nnet_cached_axis.h` (the AXI4-Stream edge) next to this file, with
`nnet_utils/nnet_cached_weights.h` (C simulation's weight loader, `pipeline.hls.weights`).

A layer reads one sample (its input vector and the start-of-stream flag) from a stream and
writes one to the next, folded as the converter says (`pipeline.fixed.folding`); every type
(input, weight, bias, accumulator, result) is set by the converter (`pipeline.hls.convert`),
not inferred by hls4ml.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from hls4ml.backends import get_backend
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.attributes import Attribute, ConfigurableAttribute, TypeAttribute
from hls4ml.model.layers import Layer, register_layer
from hls4ml.model.types import ExponentType, NamedType, WeightVariable

SOURCES = tuple(Path(__file__).parent / "nnet_utils" / name for name in (
    "nnet_cached_conv1d.h", "nnet_cached_axis.h", "nnet_cached_weights.h"))
BACKENDS = ("Vivado", "Vitis")


class Po2WeightVariable(WeightVariable):
    """Power-of-two weights as hls4ml exponent-type pairs `{sign, shift}` (sign 1: positive),
    written from exact integer fields rather than hls4ml's float log2 of the values."""

    def __init__(self, var_name, type_name, precision, data, sign, shift, **kwargs):
        super().__init__(var_name, type_name, precision, data, **kwargs)
        self.type = ExponentType(type_name, precision, **kwargs)
        self.pairs = np.stack([1 - np.asarray(sign), np.asarray(shift)], axis=-1).reshape(-1, 2)

    def __iter__(self):
        self._iterator = iter(self.pairs)
        return self

    def __next__(self):
        sign, shift = next(self._iterator)
        return f"{{{int(sign)}, {int(shift)}}}"

    next = __next__


class CachedConv1D(Layer):
    """A causal dilated convolution with delay-line caches, one sample per call, folded.

    `weight_data` is the kernel's values in the folded loop's order
    (`pipeline.hls.converter.pass_weights`: lanes x passes), `bias_data` the biases in the
    output lanes' order; a `po2` kernel is written from its exact `po2_sign` and `po2_shift`
    fields (same order), and a `po2_or_zero` kernel also has `po2_zero_shift`, the shift
    that stands for a zero weight."""

    _expected_attributes: ClassVar[list[Attribute]] = [
        Attribute("n_in"),
        Attribute("n_out"),
        Attribute("kernel_size"),
        Attribute("dilation"),
        Attribute("kernel_encoding", value_type=str),
        # The fold (pipeline.fixed.folding.Fold): outputs x rows lanes, passes clocks.
        Attribute("output_lanes"),
        Attribute("row_lanes"),
        Attribute("row_passes"),
        Attribute("output_passes"),
        Attribute("passes"),
        Attribute("lanes"),
        Attribute("line_slots"),  # delay lines per row lane (pipeline.fixed.folding.line_slots)
        Attribute("relu", value_type=bool),  # negatives to 0 before the output word
        ConfigurableAttribute("reuse_factor", default=1),  # hls4ml's name for the passes
        TypeAttribute("accum"),
    ]

    def initialize(self):
        # The converter's precisions become named types here; popped, so that hls4ml does
        # not also declare them under their attribute names.
        precision = {key: self.attributes.pop(f"{key}_precision")
                     for key in ("result", "accum", "weight", "bias")}
        index, weights = self.index, self.attributes["weight_data"]
        self.add_output_variable([self.attributes["n_out"]], precision=precision["result"])
        if self.attributes["kernel_encoding"].startswith("po2"):
            self.set_attr("weight", Po2WeightVariable(
                f"w{index}", f"weight{index}_t", precision["weight"], weights,
                self.attributes["po2_sign"], self.attributes["po2_shift"], index=index))
        else:
            self.add_weights_variable("weight", var_name=f"w{index}", type_name=f"weight{index}_t",
                                      precision=precision["weight"], data=weights)
        self.add_weights_variable("bias", var_name=f"b{index}", type_name=f"bias{index}_t",
                                  precision=precision["bias"], data=self.attributes["bias_data"])
        self.set_attr("accum_t", NamedType(f"layer{index}_accum_t", precision["accum"]))


_CONFIG_TEMPLATE = """struct config{index} : nnet::cached_conv1d_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned kernel_size = {kernel_size};
    static const unsigned dilation = {dilation};
    static const unsigned outputs = {output_lanes};
    static const unsigned rows = {row_lanes};
    static const unsigned row_passes = {row_passes};
    static const unsigned output_passes = {output_passes};
    static const unsigned passes = {passes};
    static const unsigned lanes = {lanes};
    static const unsigned line_slots = {line_slots};
    static const bool relu = {relu_cpp};
    typedef {accum_t.name} accum_t;
    typedef {weight_t.name} weight_t;
    typedef {bias_t.name} bias_t;
    template <class accum_T, class x_T, class w_T>
    using product = nnet::cached_product_{kernel_encoding}<accum_T, x_T, w_T{product_args}>;
}};
"""

_FUNCTION_TEMPLATE = ("nnet::cached_conv1d<{input_t}, {output_t}, {config}>({input}, {output}, "
                      "{w}, {b});")


class CachedConv1DConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(CachedConv1D)
        self.template = _CONFIG_TEMPLATE

    def format(self, node):
        params = self._default_config_params(node)
        params["relu_cpp"] = "true" if node.get_attr("relu") else "false"
        params["product_args"] = (f", {node.get_attr('po2_zero_shift')}"
                                  if params["kernel_encoding"] == "po2_or_zero" else "")
        return self.template.format(**params)


class CachedConv1DFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(CachedConv1D, include_header=["nnet_utils/nnet_cached_conv1d.h"])
        self.template = _FUNCTION_TEMPLATE

    def format(self, node):
        params = self._default_function_params(node)
        params["input"] = node.get_input_variable(node.inputs[0]).name
        params["input_t"] = node.get_input_variable(node.inputs[0]).type.name
        params["w"] = node.get_weights("weight").name
        params["b"] = node.get_weights("bias").name
        return self.template.format(**params)


_registered = False


def register() -> None:
    """Register the layer, its templates and its source with hls4ml (once per process)."""
    global _registered
    if _registered:
        return
    register_layer("CachedConv1D", CachedConv1D)
    for name in BACKENDS:
        backend = get_backend(name)
        backend.register_template(CachedConv1DConfigTemplate)
        backend.register_template(CachedConv1DFunctionTemplate)
        for source in SOURCES:
            backend.register_source(source)
    _registered = True
