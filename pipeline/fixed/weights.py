"""The weight file, `weights.json` (`FORMAT_VERSION` 1, docs/export-format.md): every
kernel and bias as the integer word the hardware stores, with its format. Reading it checks
every key, type, shape and range and the model's sums (`pipeline.fixed.ir`), so a broken or
hand-edited file is a one-line error naming the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.fixed.ir import (
    MAX_WORD_BITS,
    ConvLayer,
    ExportedModel,
    ExportError,
    activation_name,
    int64_words,
    layer_accumulators,
    po2_fields,
    po2_kernel,
)
from pipeline.fixed.words import FixedFormat, Po2Format
from pipeline.inputs import read_json
from pipeline.outputs import write_text_atomic

FORMAT_VERSION = 1


def _format_dict(fmt: FixedFormat | Po2Format | None) -> dict | None:
    return None if fmt is None else fmt.to_dict()


def to_dict(model: ExportedModel) -> dict:
    layers = []
    for layer in model.layers:
        entry = {
            "name": layer.name, "kind": "conv1d_causal", "kernel_size": layer.kernel_size,
            "dilation": layer.dilation, "in_channels": layer.in_channels,
            "out_channels": layer.out_channels,
            "activation": activation_name(layer),
            "activation_format": _format_dict(layer.activation),
            "bias": {"format": layer.bias_format.to_dict(), "words": layer.bias.tolist()},
        }
        if layer.po2:
            sign, shift, zero = po2_fields(layer)
            entry["kernel"] = {"encoding": "po2", "format": layer.kernel_format.to_dict(),
                               "sign": sign.tolist(), "shift": shift.tolist(),
                               "zero": zero.tolist()}
        else:
            entry["kernel"] = {"encoding": "fixed", "format": layer.kernel_format.to_dict(),
                               "words": layer.kernel.tolist()}
        layers.append(entry)
    return {"format_version": FORMAT_VERSION, "model": model.name,
            "input_format": model.input_format.to_dict(),
            "output_format": model.output_format.to_dict(), "layers": layers}


class _Reader:
    """Typed access to the weight file; every error names the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> ExportError:
        return ExportError(f"{self.source}: {where}: {problem}")

    def get(self, entry: object, key: str, where: str) -> object:
        if not isinstance(entry, dict):
            raise self.fail(where or "(top level)",
                            f"expected an object, got {type(entry).__name__}")
        if key not in entry:
            raise self.fail(f"{where}.{key}" if where else key, "missing")
        return entry[key]

    def integer(self, entry: object, key: str, where: str, low: int | None = None) -> int:
        value = self.get(entry, key, where)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {value!r}")
        if low is not None and value < low:
            raise self.fail(path, f"must be at least {low}, got {value}")
        return value

    def text(self, entry: object, key: str, where: str, choices: tuple[str, ...]) -> str:
        value = self.get(entry, key, where)
        if value not in choices:
            raise self.fail(f"{where}.{key}", f"expected one of {', '.join(choices)}, "
                                              f"got {value!r}")
        return value

    def fixed(self, entry: object, key: str, where: str) -> FixedFormat:
        path = f"{where}.{key}" if where else key
        fmt = self.get(entry, key, where)
        signed = self.get(fmt, "signed", path)
        if not isinstance(signed, bool):
            raise self.fail(f"{path}.signed", f"expected true or false, got {signed!r}")
        bits = self.integer(fmt, "bits", path, low=1)
        if bits > MAX_WORD_BITS:
            raise self.fail(f"{path}.bits", f"at most {MAX_WORD_BITS}, got {bits}")
        return FixedFormat(bits, self.integer(fmt, "integer", path), signed)

    def words(self, entry: object, key: str, where: str, shape: tuple[int, ...],
              low: int, high: int) -> np.ndarray:
        path = f"{where}.{key}"
        value = self.get(entry, key, where)
        try:
            array = np.array(value)
        except (ValueError, OverflowError):
            array = None
        if array is None or array.shape != shape or (array.size and array.dtype.kind != "i"):
            raise self.fail(path, f"expected integers of shape {list(shape)}")
        if array.size and (array.min() < low or array.max() > high):
            raise self.fail(path, f"a value outside {low}..{high}")
        return array.astype(np.int64)


def _read_layer(read: _Reader, entry: object, where: str, in_channels: int) -> ConvLayer:
    name = read.get(entry, "name", where)
    if not isinstance(name, str) or not name:
        raise read.fail(f"{where}.name", f"expected a layer name, got {name!r}")
    read.text(entry, "kind", where, ("conv1d_causal",))
    k = read.integer(entry, "kernel_size", where, low=1)
    dilation = read.integer(entry, "dilation", where, low=1)
    c_in = read.integer(entry, "in_channels", where, low=1)
    c_out = read.integer(entry, "out_channels", where, low=1)
    if c_in != in_channels:
        raise read.fail(f"{where}.in_channels", f"{c_in}, but the layer before gives "
                                                f"{in_channels} channels")
    kind = read.text(entry, "activation", where, ("relu", "quantized_bits", "linear"))
    activation = None if kind == "linear" else read.fixed(entry, "activation_format", where)
    if activation is not None and activation.signed != (kind == "quantized_bits"):
        raise read.fail(f"{where}.activation_format.signed", f"does not match activation {kind!r}")
    kernel = read.get(entry, "kernel", where)
    shape = (k, c_in, c_out)
    encoding = read.text(kernel, "encoding", f"{where}.kernel", ("fixed", "po2"))
    if encoding == "po2":
        path = f"{where}.kernel"
        fmt_entry = read.get(kernel, "format", path)
        fmt = Po2Format(read.integer(fmt_entry, "bits", f"{path}.format", low=1),
                        read.integer(fmt_entry, "min_shift", f"{path}.format"),
                        read.integer(fmt_entry, "max_shift", f"{path}.format"))
        sign = read.words(kernel, "sign", path, shape, 0, 1)
        shift = read.words(kernel, "shift", path, shape, fmt.min_shift, fmt.max_shift)
        zero = read.words(kernel, "zero", path, shape, 0, 1)
        words, frac = po2_kernel(sign, shift, zero)
    else:
        fmt = read.fixed(kernel, "format", f"{where}.kernel")
        words = read.words(kernel, "words", f"{where}.kernel", shape, fmt.min_word,
                           fmt.max_word)
        frac = fmt.frac
    bias = read.get(entry, "bias", where)
    bias_format = read.fixed(bias, "format", f"{where}.bias")
    bias_words = read.words(bias, "words", f"{where}.bias", (c_out,), bias_format.min_word,
                            bias_format.max_word)
    return ConvLayer(name, k, dilation, words, frac, fmt, bias_words, bias_format, activation,
                     relu=kind == "relu")


def from_dict(payload: object, source: str = "weights") -> ExportedModel:
    """The weight file's content as an exported model; anything missing, mistyped or out of
    range is a one-line ExportError naming `source` and the key."""
    read = _Reader(source)
    version = read.get(payload, "format_version", "")
    if version != FORMAT_VERSION:
        raise ExportError(f"{source}: format_version {version!r} is not supported (expected "
                          f"{FORMAT_VERSION})")
    name = read.get(payload, "model", "")
    input_format = read.fixed(payload, "input_format", "")
    output_format = read.fixed(payload, "output_format", "")
    entries = read.get(payload, "layers", "")
    if not isinstance(entries, list) or not entries:
        raise read.fail("layers", "expected a list of at least one layer")
    layers, channels = [], None
    for index, entry in enumerate(entries):
        where = f"layers.{index}"
        if channels is None:
            channels = read.integer(entry, "in_channels", where, low=1)
        layers.append(_read_layer(read, entry, where, channels))
        channels = layers[-1].out_channels
    try:
        layer_accumulators(input_format, layers, output_format)
    except ExportError as err:
        raise ExportError(f"{source}: {err}") from None
    int64_words(layers)
    return ExportedModel(str(name), input_format, layers, output_format)


def write_weights(model: ExportedModel, path: Path) -> None:
    """weights.json, written to a temporary name and renamed."""
    write_text_atomic(path, json.dumps(to_dict(model), indent=1) + "\n")


def read_weights(path: Path) -> ExportedModel:
    return from_dict(read_json(path, ExportError, "the weight file the export stage writes"),
                     str(path))
