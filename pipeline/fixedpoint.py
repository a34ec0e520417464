"""Fixed-point words and the integer rounding that reproduces QKeras's quantisers.

QKeras 0.9.0 quantises in float32 with `tf.round`, which rounds half to even, then saturates
(docs/qkeras-quantisers.md has the full derivation and its verification):

- `quantized_bits(bits, integer, alpha=1)`: signed, step 2^-(bits-1-integer), words
  -2^(bits-1) .. 2^(bits-1)-1 (two's complement, asymmetric);
- `quantized_relu(bits, integer)`: unsigned, step 2^-(bits-integer), words 0 .. 2^bits-1,
  negatives to 0.

Here a value is an integer word with a count of fractional bits. `requantize` takes an exact
accumulator to an activation word with the same round-half-to-even and saturation, in pure
integer arithmetic, so the hardware datapath and this reference agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FixedFormat:
    """`bits` total, `integer` bits left of the point besides the sign bit (QKeras's and
    ap_fixed<bits, integer + signed>'s convention)."""

    bits: int
    integer: int
    signed: bool

    @property
    def frac(self) -> int:
        return self.bits - self.integer - int(self.signed)

    @property
    def min_word(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_word(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def words(self, values: np.ndarray) -> np.ndarray:
        """Float values to words, as QKeras quantises them (round half to even, saturate).
        Multiplying a float32 by 2^frac is exact, so this is bit-exact for float32 input."""
        scaled = np.round(np.asarray(values, dtype=np.float64) * 2.0**self.frac)
        return np.clip(scaled, self.min_word, self.max_word).astype(np.int64)

    def values(self, words: np.ndarray) -> np.ndarray:
        return np.asarray(words, dtype=np.float64) * 2.0**-self.frac

    def to_dict(self) -> dict:
        return {"bits": self.bits, "integer": self.integer, "signed": self.signed}


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """acc / 2^shift rounded half to even, exactly, for int64 `acc` (shift <= 0 is a left
    shift, which is exact)."""
    acc = np.asarray(acc, dtype=np.int64)
    if shift <= 0:
        return acc << -shift
    floor = acc >> shift  # arithmetic shift: rounds toward minus infinity
    remainder = acc - (floor << shift)  # in [0, 2^shift)
    half = np.int64(1) << (shift - 1)
    up = (remainder > half) | ((remainder == half) & ((floor & 1) == 1))
    return floor + up.astype(np.int64)


def requantize(acc: np.ndarray, acc_frac: int, fmt: FixedFormat) -> tuple[np.ndarray, int]:
    """An accumulator with `acc_frac` fractional bits to words of `fmt`: round half to even,
    then saturate (negatives to 0 for an unsigned relu format). Returns the words and how
    many of them saturated at the top or, for signed formats, the bottom."""
    rounded = round_shift(acc, acc_frac - fmt.frac)
    clipped = np.clip(rounded, fmt.min_word, fmt.max_word)
    saturated = int(np.count_nonzero(rounded > fmt.max_word))
    if fmt.signed:
        saturated += int(np.count_nonzero(rounded < fmt.min_word))
    return clipped, saturated
