"""The whole model: its layers in a chain, each handing its output sample to the next over a
valid/ready handshake, so the layers work on successive samples side by side and the design
takes a sample every interval of its slowest layer. The top level is an AXI4-Stream slave
and master: `tdata` holds one word per channel (channel 0 in the low bits), each in a lane
of whole bytes (the input lane's upper bits are ignored, the output word is sign- or
zero-extended to its lane); `tuser` is the start-of-stream flag,
which clears every layer's history as the sample reaches it and comes out with the output
sample it produced."""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal

from pipeline.rtl.conv import ConvLayer, word_shape
from pipeline.rtl.handoff import Handoff
from pipeline.rtl.plan import DesignPlan, Word


def lane_bits(word: Word) -> int:
    """Bits of one channel's lane in `tdata`: the word rounded up to whole bytes."""
    return -(-word.bits // 8) * 8


class Network(Elaboratable):
    """The layers of `plan` between two AXI4-Stream ports (clock `clk`, synchronous reset
    `rst`)."""

    def __init__(self, plan: DesignPlan):
        self.plan = plan
        last = len(plan.layers) - 1
        self.layers = [ConvLayer(layer, None if index == 0 else plan.layers[index - 1]
                                 .fold.outputs, to_handoff=index < last)
                       for index, layer in enumerate(plan.layers)]
        self.handoffs = [Handoff(word_shape(producer.out_word), producer.out_channels,
                                 producer.fold.outputs, consumer.fold.rows)
                         for producer, consumer in zip(plan.layers, plan.layers[1:],
                                                       strict=False)]
        in_lane, out_lane = lane_bits(plan.in_word), lane_bits(plan.out_word)
        self.s_axis_tdata = Signal(in_lane * plan.in_channels)
        self.s_axis_tuser = Signal()
        self.s_axis_tvalid = Signal()
        self.s_axis_tready = Signal()
        self.m_axis_tdata = Signal(out_lane * plan.out_channels)
        self.m_axis_tuser = Signal()
        self.m_axis_tvalid = Signal()
        self.m_axis_tready = Signal()

    @property
    def ports(self) -> list[Signal]:
        return [self.s_axis_tdata, self.s_axis_tuser, self.s_axis_tvalid, self.s_axis_tready,
                self.m_axis_tdata, self.m_axis_tuser, self.m_axis_tvalid, self.m_axis_tready]

    def elaborate(self, platform) -> Module:
        m = Module()
        plan = self.plan
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer_{index}_{plan.layers[index].name}"] = layer
        first, last = self.layers[0], self.layers[-1]
        in_lane = lane_bits(plan.in_word)
        for channel in range(plan.in_channels):
            lane = self.s_axis_tdata[channel * in_lane:(channel + 1) * in_lane]
            m.d.comb += first.i.payload.words[channel].eq(lane[:plan.in_word.bits])
        m.d.comb += [first.i.payload.first.eq(self.s_axis_tuser),
                     first.i.valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(first.i.ready)]
        for index, handoff in enumerate(self.handoffs):
            upstream, downstream = self.layers[index], self.layers[index + 1]
            m.submodules[f"handoff_{index}"] = handoff
            m.d.comb += [downstream.i.payload.first.eq(upstream.o.payload.first),
                         downstream.i.valid.eq(upstream.o.valid),
                         upstream.o.ready.eq(downstream.i.ready),
                         handoff.transfer.eq(upstream.o.valid & downstream.i.ready),
                         handoff.write.eq(upstream.write),
                         handoff.write_group.eq(upstream.write_group),
                         handoff.write_data.eq(upstream.write_data)]
            for reader in range(handoff.readers):
                m.d.comb += [handoff.read_en[reader].eq(downstream.read_en[reader]),
                             handoff.read_group[reader].eq(downstream.read_group[reader]),
                             handoff.read_lane[reader].eq(downstream.read_lane[reader]),
                             downstream.read_data[reader].eq(handoff.read_data[reader])]
        out_lane = lane_bits(plan.out_word)
        words = []
        for channel in range(plan.out_channels):
            wide = Signal(word_shape(Word(out_lane, plan.out_word.signed)))
            m.d.comb += wide.eq(last.o.payload.words[channel])
            words.append(wide)
        m.d.comb += [self.m_axis_tdata.eq(Cat(*words)),
                     self.m_axis_tuser.eq(last.o.payload.first),
                     self.m_axis_tvalid.eq(last.o.valid), last.o.ready.eq(self.m_axis_tready)]
        return m
