"""Check the fixed-point reference against the QKeras model it was exported from, word for
word, layer by layer.

QKeras sums products in float32 (24 significant bits). Where a layer's exact accumulator
is wider, float32 rounding can move a sum across a rounding boundary of the activation's
quantiser and the QKeras word differs from the exact one by an LSB; the difference then
propagates. So each layer is compared twice:

- `differing`: the reference run on its own (what the hardware will produce) against QKeras;
- `differing_forced`: the reference layer fed QKeras's own input words for that layer, which
  counts only the words that layer's float32 sum got wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pipeline.reference import FixedPointReference


@dataclass
class LayerComparison:
    """One layer over every signal; `saturations` and `overflows` are the reference's own
    counts (run end to end)."""

    name: str
    words: int
    differing: int
    differing_forced: int
    max_lsb: float  # largest |QKeras - reference| in LSBs of the layer's output word
    max_lsb_forced: float
    saturations: int
    overflows: int


def _probe(model: tf.keras.Model, reference: FixedPointReference) -> tf.keras.Model:
    """A model that outputs the input words' values and every exported layer's output."""
    outputs = [model.get_layer("input_q").output]
    for layer in reference.layers:
        name = layer.layer.name
        if layer.layer.activation is None:
            outputs.append(model.get_layer(name).output)
        else:
            outputs.append(model.get_layer(re.sub(r"^qconv_(\d+)[ab]?$", r"qact_\1", name))
                           .output)
    return tf.keras.Model(model.input, outputs)


def compare(model: tf.keras.Model, reference: FixedPointReference,
            signals: list[np.ndarray]) -> list[LayerComparison]:
    """Compare over every signal (T, C_in), each from a reset state."""
    probe = _probe(model, reference)
    totals = {layer.layer.name: [0, 0, 0, 0.0, 0.0, 0, 0] for layer in reference.layers}
    for x in signals:
        keras_values = [np.asarray(v, dtype=np.float64)[0]
                        for v in probe(x[None].astype(np.float32), training=False)]
        words = reference.run_words(x)
        for name, counts in reference.counters().items():
            totals[name][5] += counts["saturations"]
            totals[name][6] += counts["overflows"]
        in_frac = reference.input_format.frac
        if not np.array_equal(keras_values[0] * 2.0**in_frac, words[0]):
            raise AssertionError("input words differ from QKeras's input quantiser")
        for i, layer in enumerate(reference.layers):
            # A linear last layer is float in QKeras and a rounded word here: round QKeras's
            # value to the same word (half to even) to compare words; the LSB distance uses
            # the unrounded value.
            # Saturation (counted by the reference) is compared at the format's limit.
            keras_scaled = np.clip(keras_values[i + 1] * 2.0**layer.out_frac, *layer.out_range)
            keras_words = np.round(keras_scaled)
            layer.reset()
            forced = layer.run(np.round(keras_values[i] * 2.0**in_frac).astype(np.int64))
            total = totals[layer.layer.name]
            total[0] += keras_words.size
            total[1] += int(np.count_nonzero(keras_words != words[i + 1]))
            total[2] += int(np.count_nonzero(keras_words != forced))
            total[3] = max(total[3], float(np.abs(keras_scaled - words[i + 1]).max()))
            total[4] = max(total[4], float(np.abs(keras_scaled - forced).max()))
            in_frac = layer.out_frac
    reference.reset()
    return [LayerComparison(name, *values) for name, values in totals.items()]
