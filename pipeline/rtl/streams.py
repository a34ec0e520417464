"""Samples as the top level's AXI4-Stream words, and the segments of a run: the packing both
simulators (Amaranth's and the compiled CXXRTL model) share."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.rtl.plan import Word


def pack(words: np.ndarray, word: Word, lane: int) -> list[int]:
    """(T, C) integer words to T `tdata` integers, channel c at bits c*lane."""
    mask = (1 << lane) - 1
    values = []
    for row in np.asarray(words, dtype=np.int64):
        value = 0
        for channel, w in enumerate(row):
            value |= (int(w) & mask) << (channel * lane)
        values.append(value)
    return values


def unpack(values: Sequence[int], word: Word, lane: int, channels: int) -> np.ndarray:
    """T `tdata` integers back to (T, C) words of `word` (sign-extended if signed)."""
    out = np.zeros((len(values), channels), dtype=np.int64)
    for t, value in enumerate(values):
        for channel in range(channels):
            w = (value >> (channel * lane)) & ((1 << word.bits) - 1)
            if word.signed and w >> (word.bits - 1):
                w -= 1 << word.bits
            out[t, channel] = w
    return out


def segment_starts(lengths: Sequence[int]) -> np.ndarray:
    """The start-of-stream flag of each sample when segments of `lengths` follow each
    other in one stream: set on the first sample of each."""
    flags = np.zeros(int(sum(lengths)), dtype=np.int64)
    flags[np.cumsum([0, *lengths[:-1]]).astype(np.int64)] = 1
    return flags
