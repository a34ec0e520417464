"""The output word of a model whose last layer is linear, sized to the model's range, and
how far the output can reach against it.

QKeras keeps a linear last layer in float; the hardware rounds it to an output word. That
word is 16 bits with at least `DEFAULT_OUTPUT_FORMAT`'s integer bits, more when a
calibration signal (or, without one, the worst case of the weights) needs them, so that it
does not clip what the model produces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.fixed.ir import ConvLayer, ExportedModel, int64_words, layer_accumulators
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.words import FixedFormat

DEFAULT_OUTPUT_FORMAT = FixedFormat(16, 3, signed=True)
"""16 bits, step 2^-12, range +-8: the trained fixed16 and po2 peak at about 3 on the test
split, so they keep it."""
OUTPUT_HEADROOM = 2.0
"""A calibrated output word holds twice the calibration signal's largest output."""


@dataclass(frozen=True)
class OutputRange:
    """How far the output can reach against its word. `worst_case` is the largest |output|
    any input allows: for a linear last layer max over channels of sum|w| x max|input| +
    |b| (its inputs are bounded by the activation formats before it); for an activation,
    its format's largest value."""

    worst_case: float
    calibration_peak: float | None
    format: FixedFormat
    linear: bool

    @property
    def limit(self) -> float:
        return float(self.format.values(self.format.max_word))

    @property
    def can_saturate(self) -> bool:
        """A linear output beyond its word is clipped, unlike QKeras's float output (an
        activation's saturation is QKeras's own)."""
        return self.linear and self.worst_case > self.limit

    def message(self) -> str:
        peak = ("" if self.calibration_peak is None else
                f"; the calibration signal peaks at {self.calibration_peak:.4g}")
        verdict = ("inputs beyond the calibration signal's can saturate it" if
                   self.can_saturate else "it cannot saturate")
        return (f"output word {self.format} (up to {self.limit:.6g}){peak}; the weights allow "
                f"up to {self.worst_case:.6g}, so {verdict}")

    def metrics(self) -> dict[str, float]:
        figures = {"output_integer_bits": self.format.integer, "output_bits": self.format.bits,
                   "output_worst_case": self.worst_case,
                   "output_can_saturate": int(self.can_saturate)}
        if self.calibration_peak is not None:
            figures["output_calibration_peak"] = self.calibration_peak
        return figures


def output_range(model: ExportedModel) -> OutputRange:
    """How far the model's output can reach against its word."""
    last, accumulator = model.layers[-1], model.accumulators()[-1]
    if last.activation is not None:
        worst = last.activation.values(last.activation.largest)
    else:
        worst = accumulator.bound * 2.0**-accumulator.frac
    return OutputRange(float(worst), model.output_peak, model.output_format,
                       last.activation is None)


def size_output(name: str, input_format: FixedFormat, layers: list[ConvLayer],
                calibration: Sequence[np.ndarray] | None = None,
                output_format: FixedFormat | None = None) -> ExportedModel:
    """The exported model with its output word, every accumulator checked first.

    An activation's format is the output word. A linear last layer gets `output_format` if
    given, else 16 bits with the integer bits that hold OUTPUT_HEADROOM x the calibration
    signals' largest |output| (exact, from the reference), or without calibration the
    weights' worst case; never fewer than DEFAULT_OUTPUT_FORMAT's."""
    accumulators = layer_accumulators(input_format, layers, output_format)
    int64_words(layers)
    last = layers[-1]
    if last.activation is not None:
        return ExportedModel(name, input_format, layers, last.activation)
    if output_format is not None:
        return ExportedModel(name, input_format, layers, output_format)
    acc = accumulators[-1]
    exact = FixedFormat(acc.bits, acc.bits - 1 - acc.frac, signed=True)
    peak = None
    if calibration:
        reference = FixedPointReference(ExportedModel(name, input_format, layers, exact))
        peak = max(float(np.abs(reference.run(x)).max(initial=0.0)) for x in calibration)
        needed = peak * OUTPUT_HEADROOM
    else:
        needed = acc.bound * 2.0**-acc.frac
    default = DEFAULT_OUTPUT_FORMAT
    integer = default.integer
    while FixedFormat(default.bits, integer, True).values(default.max_word) < needed:
        integer += 1
    model = ExportedModel(name, input_format, layers,
                          FixedFormat(default.bits, integer, signed=True), peak)
    model.accumulators()  # the chosen word, checked like every other width
    return model


