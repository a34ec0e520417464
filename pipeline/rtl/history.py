"""A layer's memory of past inputs: the head and fill counter every lane shares, and the delay
lines of one row lane.

Like the HLS layer, the cache is delay lines of `dilation` words with one head that advances
modulo the dilation; a start of stream clears the head and the fill counter, and a tap older
than the samples seen since then reads as zero. That is the zero history of the Keras
model's causal padding, with no clearing loop: the stale words stay in memory, unread.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out


class History(wiring.Component):
    """The head (modulo `dilation`) and the fill counter (saturating at (K-1)*dilation).

    `start` takes a sample (`first`: it starts a stream) and latches `seen`: bit j is set
    when tap j (j*dilation samples ago) is at or after the start of the stream. `advance`
    moves the head on once the sample's delay-line writes are done."""

    def __init__(self, kernel_size: int, dilation: int):
        self.kernel_size, self.dilation = kernel_size, dilation
        self.filled_max = (kernel_size - 1) * dilation
        super().__init__({
            "start": In(1), "first": In(1), "advance": In(1),
            "head": Out(range(dilation)), "seen": Out(kernel_size),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        filled = Signal(range(self.filled_max + 1))
        with m.If(self.start):
            with m.If(self.first):
                m.d.sync += [self.head.eq(0), filled.eq(0)]
            m.d.sync += self.seen[0].eq(1)
            for tap in range(1, self.kernel_size):
                m.d.sync += self.seen[tap].eq(~self.first & (filled >= tap * self.dilation))
        with m.Elif(self.advance):
            # Modulo the dilation as a compare and a reset, not a divider.
            m.d.sync += self.head.eq(Mux(self.head == self.dilation - 1, 0, self.head + 1))
            with m.If(filled != self.filled_max):
                m.d.sync += filled.eq(filled + 1)
        return m


class DelayLines(wiring.Component):
    """`lines` delay lines of `dilation` words in one memory, line m at m*dilation: one
    address for the read and the write of a cycle, the read returning the word before the
    write (read-first), so a row can take its old word out and put the newer one in."""

    def __init__(self, word: Shape, lines: int, dilation: int):
        self.depth = lines * dilation
        super().__init__({
            "addr": In(range(self.depth)), "write": In(1), "wdata": In(word),
            "rdata": Out(word),
        })
        self.memory = memory.Memory(shape=word, depth=self.depth, init=[])

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.memory = self.memory
        read = self.memory.read_port()
        write = self.memory.write_port()
        m.d.comb += [read.addr.eq(self.addr), write.addr.eq(self.addr),
                     write.en.eq(self.write), write.data.eq(self.wdata),
                     self.rdata.eq(read.data)]
        return m
