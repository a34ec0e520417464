"""The arithmetic of a layer: product lanes (a multiplier, or a shifter for a po2 weight),
the adder tree and accumulators, and the rounding and saturation of an accumulator to an
activation word. Every width comes from the plan, so every sum is exact."""

from __future__ import annotations

import math

from amaranth.hdl import Array, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pipeline.rtl.plan import Requantize


class FixedProduct(wiring.Component):
    """x * w for a fixed-point weight word, registered: one hard multiplier (an 18x18
    MULT18X18D, a DSP48E1) for operands of up to 18 bits with their signs."""

    def __init__(self, x: Shape, w: Shape, acc_bits: int, product_shift: int):
        self.product_shift = product_shift
        super().__init__({"x": In(x), "w": In(w), "enable": In(1),
                          "product": Out(signed(acc_bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        product = Signal.like(self.product, reset_less=True)
        with m.If(self.enable):
            m.d.sync += product.eq((self.x * self.w) << self.product_shift)
        m.d.comb += self.product.eq(product)
        return m


class Po2Product(wiring.Component):
    """x * ±2^e for a po2 weight, registered: a shifter and a negation, no multiplier. The
    weight comes as a code: bit 0 zero, bit 1 sign, the rest e - `low`."""

    def __init__(self, x: Shape, shift_bits: int, low: int, acc_bits: int,
                 product_shift: int):
        self.low, self.product_shift, self.acc_bits = low, product_shift, acc_bits
        super().__init__({"x": In(x), "code": In(shift_bits + 2), "enable": In(1),
                          "product": Out(signed(acc_bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        wide = Signal(signed(self.acc_bits))
        shifted = Signal(signed(self.acc_bits))
        m.d.comb += [wide.eq(self.x << (self.low + self.product_shift)),
                     shifted.eq(wide << self.code[2:])]
        product = Signal.like(self.product, reset_less=True)
        with m.If(self.enable):
            with m.If(self.code[0]):
                m.d.sync += product.eq(0)
            with m.Elif(self.code[1]):
                m.d.sync += product.eq(-shifted)
            with m.Else():
                m.d.sync += product.eq(shifted)
        m.d.comb += self.product.eq(product)
        return m


def tree_stages(row_lanes: int) -> int:
    """Register stages of the adder tree over `row_lanes` products: one per two levels of
    adders, at most two, so a layer stays within `pipeline.fixed.folding.LAYER_OVERHEAD_CYCLES`."""
    levels = math.ceil(math.log2(row_lanes)) if row_lanes > 1 else 0
    return min(math.ceil(levels / 2), 2)


class Accumulators(wiring.Component):
    """One accumulator per output lane: the products of the row lanes summed by an adder
    tree registered every `levels_per_stage` levels, then added to the accumulator, which
    starts each output group from the group's bias. `done` (with `done_group`) is high for
    the cycle after a group's last products were added, when `acc` holds its sums.

    Tokens (`valid`, `first`, `last`, `group`) arrive with the products they describe."""

    def __init__(self, row_lanes: int, out_lanes: int, acc_bits: int,
                 bias: list[list[int]]):
        """`bias[g][o]`: the bias of output lane o in group g (0 for padding)."""
        self.row_lanes, self.out_lanes, self.acc_bits = row_lanes, out_lanes, acc_bits
        self.bias = bias
        self.stages = tree_stages(row_lanes)
        levels = math.ceil(math.log2(row_lanes)) if row_lanes > 1 else 0
        self.levels_per_stage = math.ceil(levels / self.stages) if self.stages else 0
        word = signed(acc_bits)
        groups = len(bias)
        super().__init__({
            "products": In(word).array(out_lanes, row_lanes),
            "valid": In(1), "first": In(1), "last": In(1), "group": In(range(groups)),
            "acc": Out(word).array(out_lanes), "done": Out(1),
            "done_group": Out(range(groups)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        terms = [[self.products[o][r] for r in range(self.row_lanes)]
                 for o in range(self.out_lanes)]
        valid, first, last, group = self.valid, self.first, self.last, self.group
        level = 0
        while any(len(t) > 1 for t in terms):
            terms = [[(t[k] + t[k + 1])[:self.acc_bits].as_signed() if k + 1 < len(t) else t[k]
                      for k in range(0, len(t), 2)] for t in terms]
            level += 1
            if level % self.levels_per_stage == 0 or all(len(t) == 1 for t in terms):
                registered = []
                for t in terms:
                    regs = [Signal(signed(self.acc_bits), reset_less=True) for _ in t]
                    with m.If(valid):
                        m.d.sync += [reg.eq(term) for reg, term in zip(regs, t, strict=True)]
                    registered.append(regs)
                terms = registered
                flags = [Signal.like(valid), Signal.like(first), Signal.like(last),
                         Signal.like(group)]
                m.d.sync += [flag.eq(value) for flag, value in
                             zip(flags, (valid, first, last, group), strict=True)]
                valid, first, last, group = flags
        for o in range(self.out_lanes):
            bias = Array(Const(b[o], signed(self.acc_bits)) for b in self.bias)[group]
            acc = Signal(signed(self.acc_bits), name=f"acc_{o}", reset_less=True)
            with m.If(valid):
                m.d.sync += acc.eq(Mux(first, bias, acc) + terms[o][0])
            m.d.comb += self.acc[o].eq(acc)
        m.d.sync += [self.done.eq(valid & last), self.done_group.eq(group)]
        return m


class Requantizer(wiring.Component):
    """An accumulator to an activation word, combinationally: round half to even by
    `shift` bits, then saturate to [low, high] (negatives to 0 for a relu).

    Whether the rounded value leaves [low, high] is decided from the accumulator itself,
    by comparisons with constants that run beside the rounding adder; so the adder need
    only be as wide as the output word, and the path is one carry chain, not two."""

    def __init__(self, acc_bits: int, out: Shape, rule: Requantize):
        self.acc_bits, self.rule = acc_bits, rule
        super().__init__({"acc": In(signed(acc_bits)), "word": Out(out)})

    def elaborate(self, platform) -> Module:
        m = Module()
        shift, low, high = self.rule.shift, self.rule.low, self.rule.high
        acc, bits = self.acc, Shape.cast(self.word.shape()).width
        rounded = Signal(bits)
        if shift <= 0:
            above, below = (acc << -shift) > high, (acc << -shift) < low
            m.d.comb += rounded.eq(acc << -shift)
        else:
            floor = acc >> shift
            half = acc[shift - 1]
            below_half = acc[:shift - 1] != 0 if shift > 1 else Const(0)
            # Up when above half, or exactly half and the floor is odd (ties to even).
            up = half & (below_half | floor[0])
            m.d.comb += rounded.eq(floor[:bits] + up)
            # v + 1/2 rounds to v when v is even, else to v + 1.
            top_tie = (high << shift) + (1 << (shift - 1))
            above = acc >= top_tie if high % 2 else acc > top_tie
            bottom_tie = ((low - 1) << shift) + (1 << (shift - 1))
            below = acc <= bottom_tie if (low - 1) % 2 == 0 else acc < bottom_tie
        with m.If(above):
            m.d.comb += self.word.eq(high)
        with m.Elif(below):
            m.d.comb += self.word.eq(low)
        with m.Else():
            m.d.comb += self.word.eq(rounded)
        return m
