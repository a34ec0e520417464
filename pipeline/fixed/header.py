"""`weights.h`: the same integers as `weights.json`, with each format as #defines, for C/C++
and RTL users who do not read JSON."""

from __future__ import annotations

import numpy as np

from pipeline.fixed.ir import ExportedModel, ExportError, activation_name, po2_fields
from pipeline.fixed.weights import FORMAT_VERSION
from pipeline.fixed.words import Po2Format


def _c_type(low: int, high: int) -> str:
    for bits in (8, 16, 32, 64):
        if -(1 << (bits - 1)) <= low and high < (1 << (bits - 1)):
            return f"int{bits}_t"
    raise ExportError(f"a word range {low}..{high} needs more than 64 bits")


def _c_array(name: str, values: np.ndarray, c_type: str | None = None) -> str:
    c_type = c_type or _c_type(int(values.min()), int(values.max()))
    dims = "".join(f"[{n}]" for n in values.shape)
    body = np.array2string(values, separator=", ", threshold=values.size + 1,
                           max_line_width=96).replace("[", "{").replace("]", "}")
    return f"static const {c_type} {name}{dims} = {body};\n"


def header_text(model: ExportedModel) -> str:
    """weights.h: the same integers as weights.json, with each format as #defines."""
    prefix = "".join(c if c.isalnum() else "_" for c in model.name)
    guard = f"{prefix.upper()}_WEIGHTS_H"
    fmt = model.input_format
    lines = [f"/* {model.name}: integer weights exported by the export stage (format_version "
             f"{FORMAT_VERSION}). A value is word * 2^-FRAC. See docs/export-format.md. */",
             f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>", "",
             f"#define {prefix.upper()}_INPUT_BITS {fmt.bits}",
             f"#define {prefix.upper()}_INPUT_FRAC {fmt.frac}",
             f"#define {prefix.upper()}_OUTPUT_BITS {model.output_format.bits}",
             f"#define {prefix.upper()}_OUTPUT_FRAC {model.output_format.frac}", ""]
    for layer in model.layers:
        name = f"{prefix}_{layer.name}"
        upper = name.upper()
        lines += [f"/* {layer.name}: causal conv, K={layer.kernel_size}, dilation "
                  f"{layer.dilation}, {layer.in_channels} -> {layer.out_channels}, "
                  f"activation {activation_name(layer)} */",
                  f"#define {upper}_K {layer.kernel_size}",
                  f"#define {upper}_DILATION {layer.dilation}",
                  f"#define {upper}_CIN {layer.in_channels}",
                  f"#define {upper}_COUT {layer.out_channels}",
                  f"#define {upper}_BIAS_FRAC {layer.bias_format.frac}"]
        if layer.activation is not None:
            lines += [f"#define {upper}_ACT_BITS {layer.activation.bits}",
                      f"#define {upper}_ACT_FRAC {layer.activation.frac}",
                      f"#define {upper}_ACT_SIGNED {int(layer.activation.signed)}"]
        if isinstance(layer.kernel_format, Po2Format):
            sign, shift, zero = po2_fields(layer)
            fmt = layer.kernel_format
            lines += ["/* po2 kernel: weight = (sign ? -1 : 1) * 2^shift, or 0 where zero */",
                      _c_array(f"{name}_shift", shift, _c_type(fmt.min_shift, fmt.max_shift)),
                      _c_array(f"{name}_sign", sign, "uint8_t"),
                      _c_array(f"{name}_zero", zero, "uint8_t")]
        else:
            lines += [f"#define {upper}_KERNEL_FRAC {layer.kernel_frac}",
                      _c_array(f"{name}_kernel", layer.kernel,
                               _c_type(layer.kernel_format.min_word,
                                       layer.kernel_format.max_word))]
        lines.append(_c_array(f"{name}_bias", layer.bias,
                              _c_type(layer.bias_format.min_word, layer.bias_format.max_word)))
    lines += [f"#endif /* {guard} */", ""]
    return "\n".join(lines)
