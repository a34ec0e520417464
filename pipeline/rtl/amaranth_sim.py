"""Amaranth's own simulator driving the design: for small models and single layers (unit
tests, per-layer intervals). Long signals go through the compiled CXXRTL model instead
(`pipeline.rtl.cxxrtl`), which is orders of magnitude faster."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from pipeline.rtl.conv import ConvLayer
from pipeline.rtl.network import Network, lane_bits
from pipeline.rtl.plan import DesignPlan, LayerPlan
from pipeline.rtl.streams import pack, unpack

CLOCK_PERIOD_S = 1e-8


@dataclass(frozen=True)
class StreamRun:
    """Output words (T, C_out) with their start-of-stream flags, and the cycle of every
    input accept and output transfer."""

    words: np.ndarray
    firsts: np.ndarray
    accepted: list[int]
    delivered: list[int]

    @property
    def intervals(self) -> np.ndarray:
        return np.diff(self.accepted)


def _drive(dut: Elaboratable, ports, tdata: list[int], firsts: np.ndarray,
           out_ready_pattern: list[int] | None, max_cycles: int):
    """Stream `tdata` in at full rate (the source is always valid); the sink is ready on
    the cycles of `out_ready_pattern` (repeated), or always."""
    s_data, s_user, s_valid, s_ready, m_data, m_user, m_valid, m_ready = ports
    accepted, delivered, outputs, out_firsts = [], [], [], []

    async def bench(ctx):
        sent, cycle = 0, 0
        while len(outputs) < len(tdata):
            if cycle >= max_cycles:
                raise RuntimeError(f"no output after {max_cycles} cycles: "
                                   f"{len(outputs)} of {len(tdata)} samples out")
            if sent < len(tdata):
                ctx.set(s_data, tdata[sent])
                ctx.set(s_user, int(firsts[sent]))
                ctx.set(s_valid, 1)
            else:
                ctx.set(s_valid, 0)
            ready = 1 if out_ready_pattern is None else \
                out_ready_pattern[cycle % len(out_ready_pattern)]
            ctx.set(m_ready, ready)
            if sent < len(tdata) and ctx.get(s_ready):
                accepted.append(cycle)
                sent += 1
            if ready and ctx.get(m_valid):
                delivered.append(cycle)
                outputs.append(ctx.get(m_data))
                out_firsts.append(ctx.get(m_user))
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD_S)
    sim.add_testbench(bench)
    sim.run()
    return outputs, out_firsts, accepted, delivered


def run_network(plan: DesignPlan, words: np.ndarray, firsts: np.ndarray,
                out_ready_pattern: list[int] | None = None,
                max_cycles: int = 10_000_000) -> StreamRun:
    """The whole design over input words (T, C_in) with start-of-stream flags (T,)."""
    network = Network(plan)
    in_lane, out_lane = lane_bits(plan.in_word), lane_bits(plan.out_word)
    outputs, out_firsts, accepted, delivered = _drive(
        network, network.ports, pack(words, plan.in_word, in_lane), firsts,
        out_ready_pattern, max_cycles)
    return StreamRun(unpack(outputs, plan.out_word, out_lane, plan.out_channels),
                     np.array(out_firsts), accepted, delivered)


class _LayerPorts(Elaboratable):
    """One layer with plain ports, for measuring it alone."""

    def __init__(self, plan: LayerPlan):
        self.layer = ConvLayer(plan)
        self.ports = [self.layer.i.payload.words.as_value(), self.layer.i.payload.first,
                      self.layer.i.valid, self.layer.i.ready,
                      self.layer.o.payload.words.as_value(), self.layer.o.payload.first,
                      self.layer.o.valid, self.layer.o.ready]

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.layer = self.layer
        return m


def layer_interval(plan: LayerPlan, samples: int = 4) -> int:
    """Cycles between samples of one layer alone, fed at full rate with its output taken
    at once: the largest gap between accepts, after the first."""
    dut = _LayerPorts(plan)
    rng = np.random.default_rng(0)
    words = rng.integers(plan.in_word.low, plan.in_word.high + 1,
                         (samples, plan.in_channels))
    tdata = pack(words, plan.in_word, plan.in_word.bits)
    firsts = np.zeros(samples, dtype=np.int64)
    firsts[0] = 1
    _, _, accepted, _ = _drive(dut, dut.ports, tdata, firsts, None,
                               samples * (plan.passes + 100))
    return int(np.diff(accepted).max())
