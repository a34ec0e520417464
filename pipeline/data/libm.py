"""`sin` and `power` element by element through the C library (Python's `math`), not NumPy.

NumPy picks a ufunc's implementation by the CPU it runs on: with AVX-512 its float64 `power`
is a vectorised one of its own, a last bit away from the C library's (which other CPUs get)
for about 5% of arguments, and one last bit can flip a 16-bit word of a WAV file. Measured:
with NumPy's AVX-512 paths switched off (`NPY_DISABLE_CPU_FEATURES`) the same config wrote
one of the default dataset's 704 files differently. `sin` agreed on a million arguments, but
goes the same way so that no sample depends on NumPy's choice. Synthesis calls these, so the
data is the same byte for byte whatever the CPU (given the same C library); collect took
3.8 s instead of 2.3 s. Everything else in synthesis is +, -, *, / and mod, which IEEE 754
defines exactly.
"""

import math

import numpy as np

_sin = np.frompyfunc(math.sin, 1, 1)
_power = np.frompyfunc(math.pow, 2, 1)


def sin(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(_sin(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def power(base: np.ndarray | float, exponent: np.ndarray | float) -> np.ndarray:
    return np.asarray(_power(np.asarray(base, dtype=np.float64),
                             np.asarray(exponent, dtype=np.float64)), dtype=np.float64)
