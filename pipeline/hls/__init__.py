"""Hand-off to hls4ml: a QKeras WaveNet becomes a streaming Vitis/Vivado HLS project.

    from pipeline.hls import convert
    hls_model = convert(model, "hls_projects/fixed16")   # config: HlsConfig, dict or None
    y = hls_model.predict(x)                             # (T, C_in) -> (T, C_out), g++ C sim

`converter` maps the exported model to hls4ml layers, `layers` is the hls4ml extension (the
cached dilated convolution), `project` writes the relocatable project and `simulation`
compiles and runs it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError

from pipeline.config import HlsConfig, describe
from pipeline.errors import ConfigError
from pipeline.fixed.output import output_range
from pipeline.fixed.reader import from_qkeras
from pipeline.hls.converter import check_layer_config
from pipeline.hls.project import HlsModel, write_project

if TYPE_CHECKING:
    import keras

__all__ = ["HlsConfig", "HlsModel", "OutputRangeWarning", "convert"]


class OutputRangeWarning(UserWarning):
    """The model's linear output can reach beyond its output word, which then saturates."""


def convert(model: keras.Model, output_dir: str | Path,
            config: HlsConfig | dict | None = None,
            testbench_input: list[np.ndarray] | None = None) -> HlsModel:
    """Write a streaming HLS project for a causal dilated QConv1D stack and return it.

    An unsupported model (padding other than causal, strides, unknown layers, activations
    or quantisers, sums wider than the exact datapath) raises `pipeline.fixed.ir.ExportError`
    naming the layer, before anything is written. `output_dir` must be absent, empty or a
    project written earlier (by `convert` or the hls stage); anything else raises
    `pipeline.outputs.OutputError` and is left as it was. A model without an input quantiser
    gets `config.input_precision` as its input word. `testbench_input`: segments (T, C_in)
    for the project's tb_data, which also calibrate a linear output word (without them, the
    weights' worst case sizes it); an output that can still saturate is reported with an
    `OutputRangeWarning`."""
    if config is None:
        config = HlsConfig()
    elif isinstance(config, dict):
        try:
            config = HlsConfig.model_validate(config)
        except ValidationError as err:
            raise ConfigError(f"hls config: {describe(err)}") from None
    exported = from_qkeras(model, input_format=config.input_format,
                           calibration=testbench_input)
    check_layer_config(exported, config)
    output = output_range(exported)
    if output.can_saturate:
        warnings.warn(f"{model.name}: {output.message()}", OutputRangeWarning, stacklevel=2)
    return write_project(exported, Path(output_dir), config, testbench_input)
