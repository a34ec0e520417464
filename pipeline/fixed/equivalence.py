"""Check the fixed-point reference against the QKeras model it was exported from, word for
word, layer by layer, with properties that hold on every CPU.

QKeras sums products in float32 (a 24-bit significand, unit roundoff u = 2^-24), in an order
and with fused multiply-adds that depend on the CPU and the TensorFlow build. The reference
is exact. So each layer is compared twice:

- `differing`: the reference run on its own (what the hardware will produce) against QKeras;
  a difference in one layer propagates to the next;
- `differing_forced`: each reference layer fed QKeras's own input words for that layer,
  which counts only the words that layer's float32 sum got wrong.

How far float32 can move a sum (`float32_sum_error`): every term of a layer's sum (its
products and bias) is a multiple of the accumulator's LSB L. For m terms whose absolute
values add up to S, any order of float32 additions, with or without fused multiply-adds,
ends within gamma_m * S of the exact sum, gamma_m = m*u / (1 - m*u) (Higham, "Accuracy and
Stability of Numerical Algorithms", 2nd ed., eq. 3.5: the products' own rounding and the
bias's addition are among the m roundings; this assumes TensorFlow forms each output as a
sum of its products, as its direct and GEMM convolutions do, not in a transformed domain
such as Winograd's). If S <= 2^24 L, every partial sum is a multiple
of L below 2^24 L, which float32 holds exactly: the sum is exact. Every float32 partial sum
of multiples of L is itself a multiple of L (a rounding to a grid coarser than L, or none),
so QKeras's sum is an exact accumulator value acc' with |acc' - acc| <= gamma_m * S / L.

The property (`LayerComparison.unexplained`, which must be 0): with its own input words,
each QKeras word equals the activation (round half to even, saturate) of some accumulator
within that distance of the exact one, i.e. it lies between q(acc - B) and q(acc + B) for the
monotonic quantiser q. Where the sums are exact (B = 0) the words must be equal. A QKeras
word outside that range is a bug of the reference or the export, whatever the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.reference import FixedPointReference

if TYPE_CHECKING:
    import keras

UNIT_ROUNDOFF = 2.0**-24  # float32: half an ulp of 1, relative
EXACT_SUM_LSBS = 2**24  # sums of terms on an LSB grid below this many LSBs are exact


def gamma(terms: int) -> float:
    """Higham's gamma_m = m*u / (1 - m*u): the relative error bound of an m-term float32
    sum or dot product (any order)."""
    return terms * UNIT_ROUNDOFF / (1 - terms * UNIT_ROUNDOFF)


def float32_sum_error(terms: int, magnitude: np.ndarray) -> np.ndarray:
    """The largest distance, in LSBs, between a float32 sum of `terms` terms on an LSB grid
    and its exact value, where the terms' absolute values add up to `magnitude` LSBs: 0
    where every partial sum is exact, else gamma_m * magnitude rounded up."""
    magnitude = np.asarray(magnitude)
    bound = np.ceil(gamma(terms) * magnitude.astype(np.float64)).astype(np.int64)
    return np.where(magnitude <= EXACT_SUM_LSBS, 0, bound)


@dataclass
class LayerComparison:
    """One layer over every signal; `saturations` and `overflows` are the reference's own
    counts (run end to end). `at_risk`: words whose sum float32 may move across a rounding
    boundary of the output word, given QKeras's inputs; `unexplained`: forced differences
    outside that (None for the first layer of a model without an input quantiser, whose
    QKeras input is not a word); `exact`: every forced sum is exact in float32."""

    name: str
    words: int
    differing: int
    differing_forced: int
    max_lsb: float  # largest |QKeras - reference| in LSBs of the layer's output word
    max_lsb_forced: float
    saturations: int
    overflows: int
    at_risk: int = 0
    unexplained: int | None = 0
    exact: bool = True


def _output_layers(model: keras.Model, reference: FixedPointReference) -> list:
    """The Keras layers whose outputs are the input words and each exported layer's words:
    the input QActivation (or the model's input), then each QConv1D or the QActivation that
    follows it."""
    import keras
    from qkeras import QActivation

    consumers = {id(layer.input): layer for layer in model.layers
                 if not isinstance(layer, keras.layers.InputLayer)}
    first = consumers.get(id(model.inputs[0]))
    outputs = [first.output if isinstance(first, QActivation) else model.inputs[0]]
    for conv in reference.layers:
        layer = model.get_layer(conv.layer.name)
        if conv.layer.activation is not None:
            layer = consumers[id(layer.output)]
        outputs.append(layer.output)
    return outputs


def compare(model: keras.Model, reference: FixedPointReference,
            signals: list[np.ndarray]) -> list[LayerComparison]:
    """Compare over every signal (T, C_in), each from a reset state. TensorFlow is imported
    here, by the caller's Keras model, not by this package."""
    import keras

    probe = keras.Model(model.inputs[0], _output_layers(model, reference))
    totals = {conv.layer.name: LayerComparison(conv.layer.name, 0, 0, 0, 0.0, 0.0, 0, 0)
              for conv in reference.layers}
    input_quantised = True
    for x in signals:
        keras_values = [np.asarray(v, dtype=np.float64)[0]
                        for v in probe(x[None].astype(np.float32), training=False)]
        words = reference.run_words(x)
        for name, counts in reference.counters().items():
            totals[name].saturations += counts["saturations"]
            totals[name].overflows += counts["overflows"]
        in_frac = reference.input_format.frac
        input_quantised &= bool(np.array_equal(keras_values[0] * 2.0**in_frac, words[0]))
        for i, conv in enumerate(reference.layers):
            # A linear last layer is float in QKeras and a rounded word here: round QKeras's
            # value to the same word (half to even) to compare words; the LSB distance uses
            # the unrounded value. Saturation is compared at the format's limit.
            keras_scaled = np.clip(keras_values[i + 1] * 2.0**conv.out_frac, *conv.out_range)
            keras_words = np.round(keras_scaled)
            inputs = words[0] if i == 0 else np.round(keras_values[i] * 2.0**in_frac)
            acc, magnitude = conv.accumulate(inputs.astype(np.int64))
            forced = conv.output_words(acc)[0]
            error = float32_sum_error(conv.layer.kernel_size * conv.layer.in_channels + 1,
                                      magnitude)
            low, high = conv.output_words(acc - error)[0], conv.output_words(acc + error)[0]
            total = totals[conv.layer.name]
            total.words += keras_words.size
            total.differing += int(np.count_nonzero(keras_words != words[i + 1]))
            total.differing_forced += int(np.count_nonzero(keras_words != forced))
            total.max_lsb = max(total.max_lsb, float(np.abs(keras_scaled - words[i + 1]).max()))
            total.max_lsb_forced = max(total.max_lsb_forced,
                                       float(np.abs(keras_scaled - forced).max()))
            total.at_risk += int(np.count_nonzero(low != high))
            total.exact &= not error.any()
            if total.unexplained is not None:
                total.unexplained += int(np.count_nonzero((keras_words < low) |
                                                          (keras_words > high)))
            in_frac = conv.out_frac
    if not input_quantised:
        first = totals[reference.layers[0].layer.name]
        first.unexplained, first.exact = None, False
    reference.reset()
    return list(totals.values())


def keras_distance_bound(exported: ExportedModel, input_quantised: bool,
                         input_peak: float | None = None) -> float:
    """A bound, for every input, on |QKeras output - reference (or HLS) output| when no
    output saturates and the input stays within `input_peak` (default: the input word's
    range).

    Propagated layer by layer, e being the largest distance of QKeras's values from the
    reference's on a layer's input: e = 0 when the model quantises its input (both see the
    same words), else half an LSB of the input word (the hardware rounds it, QKeras does
    not). A layer's sum then differs by at most d = R e + F per output channel, R the
    channel's sum of |weights|, F = gamma_m (R max|input| + |bias|) for float32, or F = 0
    where e = 0 and the accumulator's bound is below 2^24 LSBs (exact). An activation of
    step D rounds both sums: its words differ by at most D (floor(d / D) + 1) for d > 0, and
    not at all for d = 0. A linear layer inside passes d on; a linear last layer adds the
    output word's half LSB (QKeras's output is not rounded). The worst case compounds each
    layer's possible one-step difference by the next layers' R: `keras_distance` follows
    the actual signal and is far tighter."""
    fmt = exported.input_format
    peak = fmt.values(fmt.largest) if input_peak is None else input_peak
    distance = 0.0 if input_quantised else 2.0 ** -(fmt.frac + 1)
    for index, (layer, acc) in enumerate(zip(exported.layers, exported.accumulators(),
                                             strict=True)):
        weights = np.abs(layer.kernel).sum(axis=(0, 1)) * 2.0**-layer.kernel_frac
        bias = np.abs(layer.bias) * 2.0**-layer.bias_format.frac
        terms = layer.kernel_size * layer.in_channels + 1
        exact = distance == 0 and acc.bound <= EXACT_SUM_LSBS
        sums = weights * distance + (0.0 if exact else gamma(terms) * (weights * peak + bias))
        last = index == len(exported.layers) - 1
        if layer.activation is not None:
            step = 2.0**-layer.activation.frac
            distance = float(np.max(np.where(sums > 0, step * (np.floor(sums / step) + 1), 0)))
            peak = float(layer.activation.values(layer.activation.largest))
        elif last:
            distance = float(sums.max()) + 2.0 ** -(exported.output_format.frac + 1)
        else:
            distance = float(sums.max())
            peak = acc.bound * 2.0**-acc.frac + distance
    return distance


def _causal(values: np.ndarray, kernel: np.ndarray, dilation: int) -> np.ndarray:
    """The causal dilated convolution of float `values` (T, C_in) with `kernel`
    (K, C_in, C_out), from a zero history."""
    k = kernel.shape[0]
    history = np.concatenate([np.zeros(((k - 1) * dilation, values.shape[1])), values])
    return sum(history[j * dilation:j * dilation + len(values)] @ kernel[j] for j in range(k))


def keras_distance(reference: FixedPointReference, x: np.ndarray,
                   input_quantised: bool) -> np.ndarray:
    """Per sample and output channel (T, C_out), a bound on |QKeras output - reference
    output| for the signal x (T, C_in) from reset: the reasoning of `keras_distance_bound`
    along the signal. Each layer's sum differs by at most d = sum |w| e over its actual
    taps plus gamma_m (S + sum |w| e), S its terms' absolute sum (0 for an exact float32
    sum of words); an activation's QKeras word then lies between q(acc - d) and q(acc + d)
    (q rounds half to even and saturates; monotonic), which sets the next layer's e per
    sample. The last layer adds the distance of the reference's word from its exact sum."""
    words = reference.run_words(x)
    fmt = reference.input_format
    distance = (np.zeros(words[0].shape) if input_quantised else
                np.abs(np.asarray(x, dtype=np.float32) - fmt.values(words[0])))
    for index, conv in enumerate(reference.layers):
        layer, lsb = conv.layer, 2.0**-conv.acc_frac
        acc, magnitude = conv.accumulate(words[index])
        spread = _causal(distance, np.abs(layer.kernel) * 2.0**-layer.kernel_frac,
                         layer.dilation)
        terms = layer.kernel_size * layer.in_channels + 1
        exact = (spread == 0) & (magnitude <= EXACT_SUM_LSBS)
        rounding = np.where(exact, 0.0, gamma(terms) * (magnitude * lsb + spread))
        steps = np.ceil((spread + rounding) / lsb * (1 + 2.0**-40)).astype(np.int64)
        word = words[index + 1]
        if conv.out_format is None:
            distance = steps * lsb
            continue
        low, high = conv.output_words(acc - steps)[0], conv.output_words(acc + steps)[0]
        if index < len(reference.layers) - 1 or layer.activation is not None:
            distance = np.maximum(high - word, word - low) * 2.0**-conv.out_frac
        else:  # a linear output: QKeras keeps the float sum, the reference rounds it
            shift = conv.acc_frac - conv.out_frac
            rounding_error = np.abs(acc - (word << shift)) * lsb if shift >= 0 else \
                np.abs((acc << -shift) - word) * 2.0**-conv.out_frac
            distance = steps * lsb + rounding_error
    return distance
