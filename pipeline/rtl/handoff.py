"""The buffer between two layers: a ping-pong memory of two samples.

The producing layer writes its output sample one output group at a time (a word of
`outputs` channel words per group) into one bank, while the consuming layer reads the
previous sample from the other bank, one channel word per row lane and cycle. The
valid/ready handshake between the layers hands the written bank over: both sides swap banks
on it. A memory instead of two banks of registers saves the flip-flops of two copies of the
sample and the consumer's channel multiplexer: it maps to distributed RAM (or block RAM)."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out


class Handoff(wiring.Component):
    """`channels` words of shape `word`, written `outputs` at a time (group g holds
    channels g*outputs ..), read by `readers` row lanes. A read (`read_en` with the
    channel's `read_group` and `read_lane`) returns the word in `read_data` the next
    cycle, and holds it while `read_en` is low."""

    def __init__(self, word: Shape, channels: int, outputs: int, readers: int):
        self.word = Shape.cast(word)
        self.outputs, self.readers = outputs, readers
        self.groups = -(-channels // outputs)
        width = self.word.width * outputs
        super().__init__({
            "transfer": In(1),
            "write": In(1), "write_group": In(range(self.groups)), "write_data": In(width),
            "read_en": In(1).array(readers),
            "read_group": In(range(self.groups)).array(readers),
            "read_lane": In(range(outputs)).array(readers),
            "read_data": Out(word).array(readers),
        })
        self.memory = memory.Memory(shape=width, depth=2 * self.groups, init=[])

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.memory = self.memory
        # The producer writes bank `bank`, the consumer reads the other; a transfer swaps.
        bank = Signal()
        with m.If(self.transfer):
            m.d.sync += bank.eq(~bank)
        write = self.memory.write_port()
        m.d.comb += [write.en.eq(self.write), write.data.eq(self.write_data),
                     write.addr.eq(bank * self.groups + self.write_group)]
        width = self.word.width
        for reader in range(self.readers):
            read = self.memory.read_port()
            lane = Signal.like(self.read_lane[reader], name=f"lane_{reader}")
            with m.If(self.read_en[reader]):
                m.d.sync += lane.eq(self.read_lane[reader])
            m.d.comb += [read.en.eq(self.read_en[reader]),
                         read.addr.eq(~bank * self.groups + self.read_group[reader]),
                         self.read_data[reader].eq(read.data.word_select(lane, width))]
        return m
