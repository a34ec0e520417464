"""The analytic FPGA cost estimate on small cases computed by hand (docs/fpga-cost.md)."""

import numpy as np
import pytest

from pipeline.config import HlsConfig
from pipeline.fixed.cost import estimate
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


def test_fixed_layer_shared_multipliers_registers_and_latency():
    # K=2, d=3, 2 -> 3 channels, one zero weight: 12 - 1 = 11 multiplies; R=4: ceil(11/4) = 3
    # DSPs. Cache: 1 line x 2 channels x 3 words x 16 bits = 96 bits, in registers.
    # Latency: read 1 + multiply 3 + adder tree ceil(ceil(log2(2*2+1)) / 2) = 2 + round 1
    # + (R - 1) 3 = 10 cycles. II = 4, so 100 MHz / 4 = 25 MHz.
    cost = estimate(model(conv("a", 2, 3, 2, 3, zeros=1)), HlsConfig(reuse_factor=4))
    (layer,) = cost.layers
    assert (layer.multiplies, layer.dsp, layer.cache_bits, layer.bram18,
            layer.latency_cycles) == (11, 3, 96, 0, 10)
    assert cost.initiation_interval == 4 and cost.max_sample_rate_hz == pytest.approx(25e6)


def test_deep_delay_lines_take_bram18():
    # K=3, d=1024, 2 channels: 2 lines x 2 channels = 4 memories of 1024 x 16 bits, one
    # BRAM18 each; d=1025 needs two each.
    assert estimate(model(conv("a", 3, 1024, 2, 1)), HlsConfig()).bram18 == 4
    cost = estimate(model(conv("a", 3, 1025, 2, 1)), HlsConfig())
    assert (cost.bram18, cost.layers[0].cache_bits) == (8, 4 * 1025 * 16)


def test_po2_pair_uses_shifts_and_widens_the_next_input():
    # A linear 1x1 po2 layer (no multiplies, 2*3 = 6 shift-adds, no cache) passes its
    # accumulator on at full width; the next fixed layer then multiplies wider inputs.
    first = conv("a", 1, 1, 2, 3, activation=None, po2=True)
    second = conv("b", 1, 1, 3, 1)
    cost = estimate(model(first, second), HlsConfig(layers={"b": {"reuse_factor": 3}}))
    a, b = cost.layers
    assert (a.multiplies, a.dsp, a.shift_adds, a.cache_bits) == (0, 0, 6, 0)
    # Latency of the shift layer: read 1 + tree ceil(ceil(log2(3)) / 2) = 1 + round 1 = 3.
    assert a.latency_cycles == 3
    # a's accumulator bound: 2 inputs x 2^8 (weight word) x 2^15 (input) = 2^24, so 26 bits
    # with the sign: each multiply of b takes ceil(26 / 25) * ceil(16 / 18) = 2 DSPs.
    assert b.multiplies == 3 and b.dsp == 2 * 1
    assert cost.initiation_interval == 3 and cost.summary()["est_shift_adds"] == 6


def test_per_layer_reuse_overrides_the_default():
    cost = estimate(model(conv("a", 2, 1, 4, 4), conv("b", 2, 2, 4, 4)),
                    HlsConfig(reuse_factor=2, layers={"b": {"reuse_factor": 8}}))
    assert [layer.dsp for layer in cost.layers] == [16, 4]  # 32 / 2 and 32 / 8
    assert cost.dsp == 20 and cost.initiation_interval == 8
