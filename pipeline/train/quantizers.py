"""Quantiser specs from the config as QKeras quantiser objects.

`quantized_bits` always uses alpha=1: the scale is fixed by the format, not learned, so
every weight is an integer word of its fixed-point format (what the hardware stores).
"""

from qkeras import quantized_bits, quantized_po2, quantized_relu

from pipeline.config import Linear, QuantizedBits, QuantizedPo2, QuantizedRelu


def to_qkeras(spec: QuantizedBits | QuantizedRelu | QuantizedPo2 | Linear):
    """The QKeras quantiser for `spec`, or None for `linear` (no quantisation)."""
    if isinstance(spec, QuantizedBits):
        return quantized_bits(spec.bits, spec.integer, keep_negative=True, alpha=1)
    if isinstance(spec, QuantizedRelu):
        return quantized_relu(spec.bits, spec.integer)
    if isinstance(spec, QuantizedPo2):
        return quantized_po2(spec.bits, spec.max_value)
    return None
