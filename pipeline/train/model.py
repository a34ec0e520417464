"""Build the causal dilated QConv1D stack described by a `ModelConfig`, and load a trained one.

Input (T, 3) = [core wave, e0, e1], output (T, 1). The input is quantised to the configured
audio word first, so the hardware sees exactly what the model was trained on. Every
convolution of `ModelConfig.convolutions()` is a causal QConv1D, followed by a QActivation
`qact_<i>` unless it is linear; names are stable because export and HLS conversion look
layers up by name.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import keras
from qkeras import QActivation

from pipeline.config import Linear, ModelConfig, QuantizedRelu
from pipeline.data.shapes import INPUT_CHANNELS
from pipeline.inputs import InputError
from pipeline.train.layers import CausalQConv1D, custom_objects
from pipeline.train.quantizers import to_qkeras


def build_model(config: ModelConfig, l2: float = 0.0, quantized: bool = True) -> keras.Model:
    """A fresh, untrained model; seed Keras first for reproducible initial weights.

    `quantized=False` builds the float twin: the same convolutions (same names and weight
    shapes) in float32 with plain ReLUs, to measure what quantisation costs."""
    regularizer = keras.regularizers.l2(l2) if l2 > 0 else None
    inputs = keras.Input((None, INPUT_CHANNELS), name="input")
    x = QActivation(to_qkeras(config.input_quantizer), name="input_q")(inputs) if quantized \
        else inputs
    for conv in config.convolutions():
        common = dict(dilation_rate=conv.dilation, padding="causal", name=conv.name,
                      kernel_regularizer=regularizer, bias_regularizer=regularizer)
        if quantized:
            x = CausalQConv1D(conv.out_channels, conv.kernel_size,
                              kernel_quantizer=to_qkeras(conv.kernel_quantizer),
                              bias_quantizer=to_qkeras(conv.bias_quantizer), **common)(x)
        else:
            x = keras.layers.Conv1D(conv.out_channels, conv.kernel_size, **common)(x)
        if conv.activation is None or isinstance(conv.activation, Linear):
            continue
        if quantized:
            x = QActivation(to_qkeras(conv.activation), name=f"qact_{conv.layer}")(x)
        elif isinstance(conv.activation, QuantizedRelu):
            x = keras.layers.ReLU(name=f"act_{conv.layer}")(x)
    return keras.Model(inputs, x, name=config.name if quantized else f"{config.name}_float")


def save_model(model: keras.Model, path: Path) -> None:
    """Keras's HDF5 format: unlike `.keras` (a zip stamped with the time of saving), the same
    weights give the same bytes, and the later stages find the training run by that hash."""
    absl = logging.getLogger("absl")  # Keras logs its advice to use `.keras` there
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        model.save(path)
    finally:
        absl.setLevel(level)


def load_model(path: Path) -> keras.Model:
    """A trained model (Keras HDF5, saved by this stack or by QKeras 0.9.0), uncompiled."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no trained model (run the train stage first)")
    try:
        return keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        # h5py: "Unable to ... open file (truncated file: ...)", "(file signature not found)";
        # Keras: "No model config found in the file at <GFile object at 0x...>".
        reason = re.sub(r" at <[^>]*>", "", str(err).strip().splitlines()[0]).rstrip(".")
        raise InputError(f"{path}: cannot load the trained model ({reason}); expected the "
                         f"Keras HDF5 model the train stage writes (run it again)") from None
