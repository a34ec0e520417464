"""Fixed-point words and the integer rounding that reproduces QKeras's quantisers.

QKeras 0.9.0 quantises in float32 with `tf.round`, which rounds half to even, then saturates
(docs/qkeras-quantisers.md has the full derivation and its verification):

- `quantized_bits(bits, integer, alpha=1)`: signed, step 2^-(bits-1-integer), words
  -2^(bits-1) .. 2^(bits-1)-1 (two's complement, asymmetric);
- `quantized_relu(bits, integer)`: unsigned, step 2^-(bits-integer), words 0 .. 2^bits-1,
  negatives to 0.

- `quantized_po2(bits, max_value)`: a sign and a power-of-two exponent (`Po2Format`).

Here a value is an integer word with a count of fractional bits. `requantize` takes an exact
accumulator to an activation word with the same round-half-to-even and saturation, in pure
integer arithmetic, so the hardware datapath and this reference agree by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


def word_range(bits: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest integer a `bits`-bit word holds (two's complement if
    signed)."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


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
        return word_range(self.bits, self.signed)[0]

    @property
    def max_word(self) -> int:
        return word_range(self.bits, self.signed)[1]

    def words(self, values: np.ndarray) -> np.ndarray:
        """Float values to words, as QKeras quantises them (round half to even, saturate).
        Multiplying a float32 by 2^frac is exact, so this is bit-exact for float32 input."""
        scaled = np.round(np.asarray(values, dtype=np.float64) * 2.0**self.frac)
        return np.clip(scaled, self.min_word, self.max_word).astype(np.int64)

    def values(self, words: np.ndarray) -> np.ndarray:
        return np.asarray(words, dtype=np.float64) * 2.0**-self.frac

    @property
    def largest(self) -> int:
        """The largest magnitude of a word."""
        return max(-self.min_word, self.max_word)

    def to_dict(self) -> dict:
        return {"bits": self.bits, "integer": self.integer, "signed": self.signed}

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.bits},{self.integer}>"


_AP_FIXED = re.compile(r"^ap_fixed<\s*(\d+)\s*,\s*(-?\d+)\s*>$")


def parse_ap_fixed(text: str) -> FixedFormat:
    """`ap_fixed<W,I>` (I integer bits including the sign, hls4ml's convention) as the signed
    FixedFormat(W, I - 1); ValueError names what is expected."""
    match = _AP_FIXED.match(text.strip())
    if match is None:
        raise ValueError(f"expected ap_fixed<W,I>, e.g. ap_fixed<16,1>, got {text!r}")
    bits, integer = int(match.group(1)), int(match.group(2))
    if not 2 <= bits <= 32 or not 1 <= integer <= bits:
        raise ValueError(f"{text}: needs 2 <= W <= 32 and 1 <= I <= W (I counts the sign bit)")
    return FixedFormat(bits, integer - 1, signed=True)


@dataclass(frozen=True)
class Po2Format:
    """`quantized_po2` weights: value = (-1)^sign * 2^shift with shift in [min_shift,
    max_shift], or exactly 0 (QKeras flushes 2^shift below 2^-126 to zero)."""

    bits: int
    min_shift: int
    max_shift: int

    def to_dict(self) -> dict:
        return {"bits": self.bits, "min_shift": self.min_shift, "max_shift": self.max_shift}

    def __str__(self) -> str:
        return f"po2<{self.bits}> (2^{self.min_shift}..2^{self.max_shift})"


def po2_format(bits: int, max_value: float | None) -> Po2Format:
    """The exponent range of QKeras's `quantized_po2(bits, max_value)`
    (docs/qkeras-quantisers.md): a sign bit only when max_value is None or above 1, and
    max_value caps the exponent at round(log2(max_value))."""
    sign_bit = 0 if max_value is not None and max_value <= 1 else 1
    span = 2 ** (bits - 1 - sign_bit)
    max_shift = span - 1
    if max_value is not None:
        max_shift = min(max_shift, int(np.round(np.log2(max_value))))
    return Po2Format(bits, -span, max_shift)


def narrower_po2(fmt: Po2Format, bits: int) -> Po2Format | None:
    """The same `quantized_po2` (its sign bit and max_value) with `bits` bits, if any."""
    sign_bit = fmt.bits - (-fmt.min_shift).bit_length()
    if bits - 1 - sign_bit < 0:
        return None
    span = 1 << (bits - 1 - sign_bit)
    return Po2Format(bits, -span, min(span - 1, fmt.max_shift))


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
