"""Bit-exact fixed-point streaming reference of an exported model: the hardware datapath in
NumPy integer arithmetic, one class per layer with `reset()` and a per-sample `step()` (the
RTNeural pattern) plus a vectorised `run()` over a whole signal.

Per dilated layer, a ring buffer holds the last `(K-1)*dilation + 1` input vectors, with a
moving head; the K taps are read at head - {K-1..0} x dilation. Products of input and weight
words are exact integers; they are summed with the bias (aligned to the products' LSB) in an
accumulator wide enough for the worst case of these weights (`accumulator_bits`), so nothing
is lost before the activation. The activation rounds half to even and saturates exactly as
QKeras's quantisers do (`pipeline.fixedpoint.requantize`). A linear layer inside the model
(the first of a factorised pair) passes its accumulator on unchanged, at full width; a
linear last layer rounds it to the model's output word.

Counters per layer: `saturations` (activation words clipped at the top or bottom of their
format) and `overflows` (accumulators outside `accumulator_bits`, which the worst-case sizing
makes impossible; the count guards that sizing).
"""

from __future__ import annotations

import numpy as np

from pipeline.export import ConvLayer, ExportedModel
from pipeline.fixedpoint import FixedFormat, requantize


class ReferenceConv:
    """One causal dilated convolution and its activation, on integer words."""

    def __init__(self, layer: ConvLayer, in_frac: int, in_range: tuple[int, int],
                 out_format: FixedFormat | None = None):
        """`out_format`: the activation's format, or for a linear layer the word its
        accumulator is rounded to (None: passed on at full width)."""
        self.layer = layer
        self.out_format = layer.activation or out_format
        self.acc_frac = max(in_frac + layer.kernel_frac, layer.bias_format.frac)
        self.product_shift = self.acc_frac - in_frac - layer.kernel_frac
        self.bias = layer.bias << (self.acc_frac - layer.bias_format.frac)
        largest_input = max(abs(in_range[0]), abs(in_range[1]))
        bound = (np.abs(layer.kernel).sum(axis=(0, 1)) * largest_input << self.product_shift
                 ) + np.abs(self.bias)
        self.accumulator_bits = int(bound.max()).bit_length() + 1
        if self.out_format is None:
            self.out_frac = self.acc_frac
            limit = (1 << (self.accumulator_bits - 1))
            self.out_range = (-limit, limit - 1)
        else:
            self.out_frac = self.out_format.frac
            self.out_range = (self.out_format.min_word, self.out_format.max_word)
        self.reset()

    def reset(self) -> None:
        self.buffer = np.zeros((self.layer.history, self.layer.in_channels), dtype=np.int64)
        self.head = 0
        self.saturations = 0
        self.overflows = 0

    def _activate(self, acc: np.ndarray) -> np.ndarray:
        limit = np.int64(1) << (self.accumulator_bits - 1)
        self.overflows += int(np.count_nonzero((acc < -limit) | (acc >= limit)))
        if self.out_format is None:
            return acc
        words, saturated = requantize(acc, self.acc_frac, self.out_format)
        self.saturations += saturated
        return words

    def step(self, x: np.ndarray) -> np.ndarray:
        """One input vector (C_in words) in, one output vector (C_out words) out."""
        layer = self.layer
        self.head = (self.head + 1) % layer.history
        self.buffer[self.head] = x
        acc = self.bias.copy()
        for k in range(layer.kernel_size):
            tap = (self.head - (layer.kernel_size - 1 - k) * layer.dilation) % layer.history
            acc += (self.buffer[tap] @ layer.kernel[k]) << self.product_shift
        return self._activate(acc)

    def run(self, x: np.ndarray) -> np.ndarray:
        """A whole signal (T, C_in) from the current state; leaves the ring buffer as
        `step` would have, so streaming can continue."""
        layer = self.layer
        history = np.concatenate([np.roll(self.buffer, -(self.head + 1), axis=0)[1:], x])
        acc = np.broadcast_to(self.bias, (len(x), layer.out_channels)).copy()
        for k in range(layer.kernel_size):
            start = k * layer.dilation
            acc += (history[start:start + len(x)] @ layer.kernel[k]) << self.product_shift
        self.buffer = history[-layer.history:].copy()
        self.head = layer.history - 1
        return self._activate(acc)


class FixedPointReference:
    """The exported model as a streaming integer datapath: float samples in, float out (the
    output layer's words times their LSB), every intermediate word available."""

    def __init__(self, model: ExportedModel):
        self.model = model
        self.input_format: FixedFormat = model.input_format
        frac = model.input_format.frac
        in_range = (model.input_format.min_word, model.input_format.max_word)
        self.layers: list[ReferenceConv] = []
        for index, layer in enumerate(model.layers):
            last = index == len(model.layers) - 1
            conv = ReferenceConv(layer, frac, in_range, model.output_format if last else None)
            self.layers.append(conv)
            frac, in_range = conv.out_frac, conv.out_range

    @property
    def output_frac(self) -> int:
        return self.layers[-1].out_frac

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()

    def step(self, x: np.ndarray) -> np.ndarray:
        """One sample (C_in,) in, one (C_out,) out."""
        words = self.input_format.words(np.asarray(x, dtype=np.float32))
        for layer in self.layers:
            words = layer.step(words)
        return words * 2.0**-self.output_frac

    def run_words(self, x: np.ndarray) -> list[np.ndarray]:
        """Reset, then every layer's output words over the signal x (T, C_in): the input
        words first, then one (T, C_out) array per layer."""
        self.reset()
        words = [self.input_format.words(np.asarray(x, dtype=np.float32))]
        for layer in self.layers:
            words.append(layer.run(words[-1]))
        return words

    def run(self, x: np.ndarray) -> np.ndarray:
        """Reset, then the output (T, C_out) for the signal x (T, C_in)."""
        return self.run_words(x)[-1] * 2.0**-self.output_frac

    def counters(self) -> dict[str, dict[str, int]]:
        return {layer.layer.name: {"saturations": layer.saturations,
                                   "overflows": layer.overflows} for layer in self.layers}
