"""Weight headers whose C simulation builds in time linear in the model.

hls4ml writes each weight array as `weight2_t w2[384] = {0.2402, ...};`: every literal is
an `ap_fixed` (or po2 `{sign, shift}`) built by a constructor at program start, so g++
compiles one static initialiser of constructor calls per array, and its optimiser (the
inliner above all) spends time that grows faster than the number of weights: 12 layers of
32 filters took 1.7x as long per multiply-accumulate as 6 layers.

`rewrite_weights` keeps hls4ml's definition for synthesis (`#ifdef __SYNTHESIS__`, so
the synthesis tool reads the same ROM contents and directives as before) and gives C
simulation (g++, `csim_design`, co-simulation's testbench) the same words as a plain
integer array, constant data that needs no code, plus one loop that sets each word's bits
(`nnet_utils/nnet_cached_weights.h`) at program start. hls4ml does much the same for its own C
simulation (`WriteWeightsTxt`: the words read from text files at run time). An array this
cannot hold exactly (a word wider than 62 bits, a value off the type's grid) keeps hls4ml's
definition for both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hls4ml.model import ModelGraph
from hls4ml.model.types import FixedPrecisionType

from pipeline.hls.layers import Po2WeightVariable

LOADER = '#include "nnet_utils/nnet_cached_weights.h"'
MAX_BITS = 62  # wider words keep hls4ml's literals (int64 holds them with room to spare)


def _c_type(words: np.ndarray) -> str:
    """int if it holds every word, else long long (words are at most 62 bits)."""
    return "int" if words.min(initial=0) >= -2**31 and words.max(initial=0) < 2**31 \
        else "long long"


def _array(c_type: str, name: str, words: np.ndarray) -> str:
    body = ", ".join(str(int(word)) for word in words)
    return f"static const {c_type} {name}[{len(words)}] = {{{body}}};"


def fixed_words(var) -> np.ndarray | None:
    """The weights' bit patterns as integers (value x 2^fraction bits), or None if a value
    is not on the type's grid or the type is not ap_(u)fixed."""
    precision = var.type.precision
    if not isinstance(precision, FixedPrecisionType) or precision.width > MAX_BITS:
        return None
    scaled = np.asarray(var.data, dtype=np.float64).reshape(-1) * 2.0 ** (precision.width
                                                                          - precision.integer)
    words = np.rint(scaled)
    low = -2 ** (precision.width - 1) if precision.signed else 0
    high = 2 ** (precision.width - int(precision.signed)) - 1
    if not np.array_equal(words, scaled) or words.min(initial=0) < low or \
            words.max(initial=0) > high:
        return None
    return words.astype(np.int64)


def csim_definition(var) -> str | None:
    """C simulation's definition of `var`: the array, its words and their loader."""
    name, definition = var.name, var.definition_cpp()
    if isinstance(var, Po2WeightVariable):
        signs, shifts = var.pairs[:, 0].astype(np.int64), var.pairs[:, 1].astype(np.int64)
        lines = [_array("int", f"{name}_signs", signs), _array("int", f"{name}_shifts", shifts),
                 f"static const bool {name}_loaded = nnet::cached_load_po2({name}, "
                 f"{name}_signs, {name}_shifts);"]
    else:
        words = fixed_words(var)
        if words is None:
            return None
        lines = [_array(_c_type(words), f"{name}_words", words),
                 f"static const bool {name}_loaded = nnet::cached_load_fixed({name}, "
                 f"{name}_words);"]
    return "\n".join([
        "// C simulation: the same words as integers (their bit patterns), set at program",
        "// start; no constructor call per literal to compile (pipeline/hls/weights.py).",
        LOADER, f"{definition};", *lines])


def rewrite_weights(graph: ModelGraph, project_dir: Path) -> None:
    """Give each weight header hls4ml wrote a C-simulation definition of integer words;
    the synthesis view keeps hls4ml's `ap_fixed` initialiser."""
    for node in graph.get_layers():
        for var in node.get_weights():
            path = Path(project_dir) / "firmware" / "weights" / f"{var.name}.h"
            text = path.read_text()
            start = text.index(f"{var.definition_cpp()} = {{")
            end = text.index("};\n", start) + len("};\n")
            csim = csim_definition(var)
            if csim is None:
                continue
            path.write_text(f"{text[:start]}#ifdef __SYNTHESIS__\n{text[start:end]}#else\n"
                            f"{csim}\n#endif\n{text[end:]}")
