"""The analytic FPGA cost estimate of the folded design on small cases computed by hand
(docs/fpga-cost.md gives every term)."""

import numpy as np
import pytest

from pipeline.config import HlsConfig
from pipeline.fixed.cost import estimate
from pipeline.fixed.folding import clocks_per_sample
from pipeline.fixed.ir import ConvLayer, ExportedModel
from pipeline.fixed.words import FixedFormat, Po2Format

WORD16 = FixedFormat(16, 4, signed=True)
RELU16 = FixedFormat(16, 4, signed=False)


def conv(name, k, dilation, c_in, c_out, activation=RELU16, zeros=0, po2=False):
    kernel = np.full((k, c_in, c_out), 256 if po2 else 3, dtype=np.int64)  # po2: 2^0
    kernel.reshape(-1)[:zeros] = 0
    fmt = Po2Format(4, -8, 0) if po2 else WORD16
    return ConvLayer(name, k, dilation, kernel, 8 if po2 else WORD16.frac, fmt,
                     np.zeros(c_out, dtype=np.int64), WORD16, activation)


def model(*layers):
    return ExportedModel("m", FixedFormat(16, 0, signed=True), list(layers), WORD16)


def test_a_fixed_layer_folded_by_a_reuse_factor():
    # K=2, d=3, 2 -> 3 channels: 4 rows x 3 outputs = 12 products, a zero weight counted too
    # (every slot takes a pass). ReuseFactor 4: 3 output lanes (fewest lanes within 4
    # passes), 4 passes; 3 multipliers of 16 x 16 bits, one DSP48E1 each.
    # Accumulator: 4 rows x weight 3 x input 2^15 = 393,216 < 2^19: 20 bits with the sign.
    # LUT: accumulators 3 x 20 = 60; operand 16 bits x (a 2:1 channel mux 1 + mask 1) = 32;
    # rounding 3 x (2 x 16 + ceil(4 / 3)) = 102; weight ROM 4 deep x 48 bits in LUTs = 48;
    # delay lines (rows 1 and 3 have tap 1: 2 slots x 3 words of 16 bits) 4 x ceil(16/3)
    # = 24; control: counters 3 + 3 + 1 + (2 + 2 + 3) + 2 + 2 = 18, address 3, groups 1,
    # state 10 = 32. Total 298.
    # FF: accumulators 60, operand 16, results 48, ROM output 48, line output 16, control
    # 18 + carried word 16 + pipeline 5 + 4 = 43, the sample 2 x 16 + flag = 33. Total 264.
    # Interval: 4 passes + pipeline depth (read 1, product 2, accumulate 1, round 1 = 5) + 2.
    cost = estimate(model(conv("a", 2, 3, 2, 3, zeros=1)), HlsConfig(reuse_factor=4))
    (layer,) = cost.layers
    assert (layer.lanes, layer.passes, layer.multiplies, layer.dsp) == (3, 4, 12, 3)
    assert (layer.lut, layer.ff, layer.bram18, layer.cache_bits) == (298, 264, 0, 96)
    assert layer.interval_cycles == layer.latency_cycles == 11
    # Streams: 33 bits in (2 words and the flag) and 49 out; each FIFO's data and control
    # (8 LUT, 4 FF), and the AXI4-Stream processes' registers (33 + 49 FF).
    assert (cost.edge_lut, cost.edge_ff) == (33 + 8 + 49 + 8, 33 + 4 + 49 + 4 + 33 + 49)
    assert (cost.lut, cost.ff, cost.ii_cycles, cost.latency_cycles) == (396, 436, 11, 17)
    assert cost.max_sample_rate_hz == pytest.approx(100e6 / 11)


def test_deep_delay_lines_take_bram18():
    # K=3, d=1024, 2 -> 1 channels at 192 kHz: 6 rows, one lane of 6 passes keeps the 4
    # rows of tap >= 1: 4 x 1024 words of 16 bits, 4 BRAM18 (4K x 4 each, or 1K x 18).
    (layer,) = estimate(model(conv("a", 3, 1024, 2, 1)), HlsConfig()).layers
    assert (layer.lanes, layer.passes, layer.bram18, layer.cache_bits) == (1, 6, 4, 65_536)


def test_a_po2_layer_is_shifters_in_luts_and_widens_the_next_input():
    # A linear 1x1 po2 layer, 2 -> 3 channels at 192 kHz: one shifter, 6 passes, no DSP.
    # Its accumulator: 2 inputs x 2^8 (weight word) x 2^15 (input) = 2^24: 26 bits.
    # Exponents span -8 .. 0 and a zero code: 5-bit signed, 32 shifts, 5 stages.
    # LUT: shifter 26 x (ceil(5 / 2) + 1) = 104; accumulator 26; operand 16 x 2 = 32; no
    # rounding (passed on whole); ROM 6 deep x 6 bits (sign and 5-bit exponent) = 6; no
    # delay lines (K=1); control: counters 3 + 2 + 2 + (2 + 1 + 1) + 1 + 1 = 13, address 1,
    # groups 3, state 10 = 27. Total 195.
    # FF: shifted word 26, accumulator 26, operand 16, results 3 x 26 = 78, ROM 6, control
    # 13 + 16 + 5 + 4 = 38, sample 33. Total 223.
    first = conv("a", 1, 1, 2, 3, activation=None, po2=True)
    second = conv("b", 1, 1, 3, 1)
    cost = estimate(model(first, second), HlsConfig(layers={"b": {"reuse_factor": 3}}))
    a, b = cost.layers
    assert (a.lanes, a.passes, a.multiplies, a.shift_adds, a.dsp) == (1, 6, 0, 6, 0)
    assert (a.lut, a.ff, a.cache_bits) == (195, 223, 0)
    # b multiplies 26-bit inputs: ceil(26 / 25) x ceil(16 / 18) = 2 DSP48E1 per multiplier;
    # its explicit ReuseFactor 3 gives one multiplier of 3 passes.
    assert (b.lanes, b.passes, b.multiplies, b.dsp) == (1, 3, 3, 2)
    assert cost.summary()["reuse_factors"] == [6, 3]
    assert cost.summary()["est_shift_adds"] == 6 and cost.ii_cycles == 13


def test_rows_side_by_side_add_a_registered_tree():
    # ReuseFactor 2 on 8 rows x 2 outputs: 2 outputs x 4 rows = 8 lanes, 2 passes. The tree
    # of 4 rows has 2 levels: one register stage (2 levels a cycle), depth 1 + 2 + 1 + 1 + 1.
    (layer,) = estimate(model(conv("a", 2, 1, 4, 2)), HlsConfig(reuse_factor=2)).layers
    assert (layer.lanes, layer.passes, layer.dsp) == (8, 2, 8)
    assert layer.interval_cycles == 2 + 6 + 2


def test_the_rate_picks_the_fewest_multipliers_that_keep_up():
    # fixed16's shape at 192 kHz and 100 MHz (520 clocks a sample, 512 for passes): 192
    # products on 1 multiplier, 1,024 on 2 (512 passes), 64 on 1: 4 DSP48E1, and every
    # layer's interval within the sample period.
    shape = model(conv("qconv_0", 4, 1, 3, 16), conv("qconv_1", 4, 4, 16, 16),
                  conv("qconv_2", 4, 16, 16, 1, activation=None))
    cost = estimate(shape, HlsConfig())
    assert [layer.lanes for layer in cost.layers] == [1, 2, 1] and cost.dsp == 4
    assert cost.summary()["reuse_factors"] == [192, 512, 64]
    assert cost.ii_cycles <= clocks_per_sample(100e6, 192_000) == 520
    # At ReuseFactor 1, a multiplier per product.
    assert estimate(shape, HlsConfig(reuse_factor=1)).dsp == 192 + 1024 + 64


def test_per_layer_reuse_overrides_the_default():
    cost = estimate(model(conv("a", 2, 1, 4, 4), conv("b", 2, 2, 4, 4)),
                    HlsConfig(reuse_factor=2, layers={"b": {"reuse_factor": 8}}))
    assert [layer.dsp for layer in cost.layers] == [16, 4]  # 32 / 2 and 32 / 8
    assert cost.dsp == 20 and cost.summary()["reuse_factors"] == [2, 8]
