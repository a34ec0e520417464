"""Bit-exact fixed-point streaming reference of an exported model: the hardware datapath in
NumPy integer arithmetic, one class per layer with `reset()` and a per-sample `step()` (the
RTNeural pattern) plus a vectorised `run()` over a whole signal.

Per dilated layer, a ring buffer holds the last `(K-1)*dilation + 1` input vectors, with a
moving head; the K taps are read at head - {K-1..0} x dilation. Products of input and weight
words are exact integers; they are summed with the bias (aligned to the products' LSB) in an
accumulator wide enough for the worst case of these weights (`accumulator_bits`, from
`pipeline.fixed.rules.accumulator`; the export refuses a model whose sums need more than
int64 holds), so nothing is lost before the activation. A layer the IR marks `relu` sets
negatives to 0; then the output word rounds half to even and saturates exactly as QKeras's
quantisers do (`pipeline.fixed.words.requantize`). A linear layer inside the model (the
first of a factorised pair) passes its accumulator on unchanged, at full width; a linear
last layer rounds it to the model's output word.

Counters per layer: `saturations` (activation words clipped at the top or bottom of their
format) and `overflows` (accumulators outside `accumulator_bits`, which the worst-case sizing
makes impossible; the count guards that sizing).
"""

from __future__ import annotations

import numpy as np

from pipeline.fixed.ir import ConvLayer, ExportedModel
from pipeline.fixed.rules import Accumulator
from pipeline.fixed.words import FixedFormat, requantize


class ReferenceConv:
    """One causal dilated convolution and its activation, on integer words."""

    def __init__(self, layer: ConvLayer, in_frac: int, acc: Accumulator,
                 out_format: FixedFormat | None = None):
        """`acc`: the layer's accumulator for its inputs (LSB 2^-in_frac); `out_format`: the
        activation's format, or for a linear layer the word its accumulator is rounded to
        (None: passed on at full width)."""
        self.layer = layer
        self.out_format = layer.activation or out_format
        self.acc_frac = acc.frac
        self.product_shift = acc.product_shift
        self.bias = layer.bias << acc.bias_shift
        self.accumulator_bits = acc.bits
        if self.out_format is None:
            self.out_frac = self.acc_frac
            self.out_range = (-acc.largest, acc.largest - 1)
        else:
            self.out_frac = self.out_format.frac
            self.out_range = (self.out_format.min_word, self.out_format.max_word)
        self.reset()

    def reset(self) -> None:
        self.buffer = np.zeros((self.layer.history, self.layer.in_channels), dtype=np.int64)
        self.head = 0
        self.saturations = 0
        self.overflows = 0

    def output_words(self, acc: np.ndarray) -> tuple[np.ndarray, int]:
        """The layer's output words of accumulators `acc`, and how many saturated: the ReLU
        (if the layer has one, by name), then rounding half to even and saturation to the
        output word; a linear layer inside the model passes `acc` on whole."""
        if self.out_format is None:
            return acc, 0
        if self.layer.relu:
            acc = np.maximum(acc, 0)
        return requantize(acc, self.acc_frac, self.out_format)

    def _activate(self, acc: np.ndarray) -> np.ndarray:
        limit = np.int64(1) << (self.accumulator_bits - 1)
        self.overflows += int(np.count_nonzero((acc < -limit) | (acc >= limit)))
        words, saturated = self.output_words(acc)
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

    def _sums(self, history: np.ndarray, length: int, kernel: np.ndarray,
              bias: np.ndarray) -> np.ndarray:
        acc = np.broadcast_to(bias, (length, self.layer.out_channels)).copy()
        for k in range(self.layer.kernel_size):
            start = k * self.layer.dilation
            acc += (history[start:start + length] @ kernel[k]) << self.product_shift
        return acc

    def run(self, x: np.ndarray) -> np.ndarray:
        """A whole signal (T, C_in) from the current state; leaves the ring buffer as
        `step` would have, so streaming can continue."""
        layer = self.layer
        history = np.concatenate([np.roll(self.buffer, -(self.head + 1), axis=0)[1:], x])
        acc = self._sums(history, len(x), layer.kernel, self.bias)
        self.buffer = history[-layer.history:].copy()
        self.head = layer.history - 1
        return self._activate(acc)

    def accumulate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact accumulators (T, C_out) over x (T, C_in) from a zero history, before
        the activation, and the sums of the absolute values of their terms (products and
        bias), which scale float32 rounding. Leaves the layer's state alone."""
        history = np.concatenate([np.zeros((self.layer.history - 1, x.shape[1]), np.int64), x])
        return (self._sums(history, len(x), self.layer.kernel, self.bias),
                self._sums(np.abs(history), len(x), np.abs(self.layer.kernel),
                           np.abs(self.bias)))


class FixedPointReference:
    """The exported model as a streaming integer datapath: float samples in, float out (the
    output layer's words times their LSB), every intermediate word available."""

    def __init__(self, model: ExportedModel):
        self.model = model
        self.input_format: FixedFormat = model.input_format
        frac = model.input_format.frac
        self.layers: list[ReferenceConv] = []
        for index, (layer, acc) in enumerate(zip(model.layers, model.accumulators(),
                                                 strict=True)):
            last = index == len(model.layers) - 1
            conv = ReferenceConv(layer, frac, acc, model.output_format if last else None)
            self.layers.append(conv)
            frac = conv.out_frac

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
