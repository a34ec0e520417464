"""Which `quantized_po2` widths the exact fixed-point datapath can sum, by the accumulator rule
(`pipeline.fixed.rules.worst_case_accumulator`), for the shapes of configs/models/po2.yaml:
16-bit relu inputs (fixed<16,4>, unsigned), 16-bit biases, a factorised pair 8 -> 16 -> 8
(1x1, no activation inside), or a single 1x1 po2 layer of 8 inputs followed by an
activation. Prints a Markdown table (docs/export-format.md quotes it).

    .venv/bin/python scripts/po2_widths.py
"""

from pipeline.fixed.rules import MAX_ACCUMULATOR_BITS, worst_case_accumulator
from pipeline.fixed.words import FixedFormat, po2_format

RELU = FixedFormat(16, 4, signed=False)
BIAS = FixedFormat(16, 4, signed=True)


def main() -> None:
    print("| bits | max_value | weights | 8-term sum (a single layer, or a pair's first) "
          "| pair's second sum (16 terms) | supported |")
    print("| --- | --- | --- | --- | --- | --- |")
    for max_value in (1.0, None):
        for bits in (*range(2, 11), 16):
            fmt = po2_format(bits, max_value)
            first = worst_case_accumulator(RELU.frac, RELU.largest, fmt, BIAS, 8)
            second = worst_case_accumulator(first.frac, first.largest, fmt, BIAS, 16)
            single, pair = first.working_bits(RELU.frac), second.working_bits(RELU.frac)
            verdict = ("pairs and single layers" if pair <= MAX_ACCUMULATOR_BITS else
                       "single layers" if single <= MAX_ACCUMULATOR_BITS else "refused")
            print(f"| {bits} | {max_value} | 2^{fmt.min_shift}..2^{fmt.max_shift} | "
                  f"{single} bits | {pair} bits | {verdict} |")


if __name__ == "__main__":
    main()
