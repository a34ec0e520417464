"""One causal dilated convolution as a folded multiply-accumulate, a sample in and a sample
out over valid/ready streams.

A sample is taken in one cycle; then one pass per cycle (`LayerPlan.passes` of them) issues
each row lane's delay-line read and the weight ROM read; their words reach the operand
registers a cycle later, the products a cycle after that, then the adder tree and the
accumulators, and each output group is rounded and saturated into the output register as it
completes. One cycle after the passes, the carries of chunks that start inside a channel are
written and the head moves on. The next sample is taken once the result has been handed on:
the interval is the passes plus `OVERHEAD_CYCLES` (plus the adder tree's registers when
rows are side by side), within `pipeline.fixed.folding.LAYER_OVERHEAD_CYCLES`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from pipeline.rtl.arith import Accumulators, FixedProduct, Po2Product, Requantizer, tree_stages
from pipeline.rtl.history import DelayLines, History
from pipeline.rtl.plan import LayerPlan, Word
from pipeline.rtl.sequencer import PassSequencer

PRODUCT_CYCLES = 3
"""Cycles from a pass's issue to its registered product: the memory and ROM reads, the
operand registers, the product register."""

OVERHEAD_CYCLES = 6
"""Cycles of a sample besides its passes, with no adder tree: 1 to take the sample in,
`PRODUCT_CYCLES`, 1 to accumulate, 1 to round and saturate into the output register; the
next sample is taken in the cycle after the result is handed on."""


def word_shape(word: Word) -> Shape:
    return signed(word.bits) if word.signed else unsigned(word.bits)


def sample_layout(word: Word, channels: int) -> data.StructLayout:
    """A stream payload: one word per channel, and the start-of-stream flag."""
    return data.StructLayout({"words": data.ArrayLayout(word_shape(word), channels),
                              "first": 1})


def layer_interval(plan: LayerPlan) -> int:
    """Cycles between samples of a layer whose output is taken at once."""
    return plan.passes + OVERHEAD_CYCLES + tree_stages(plan.fold.rows)


class ConvLayer(wiring.Component):
    """A layer of the plan between an input and an output stream; the start-of-stream flag
    travels with the sample.

    The first layer takes its input words in the stream's payload (`source_lanes` None)
    into registers; a later one reads them from the `Handoff` its producer writes, which
    writes `source_lanes` words at a time (`read_*` ports). Likewise the last layer gives
    its words in the output payload, an earlier one writes them to the next `Handoff`
    (`to_handoff`, `write_*` ports) and the handshake hands the bank over."""

    def __init__(self, plan: LayerPlan, source_lanes: int | None = None,
                 to_handoff: bool = False):
        self.plan, self.to_handoff = plan, to_handoff
        self.registered_input = source_lanes is None
        self.source_lanes = plan.in_channels if source_lanes is None else source_lanes
        fold = plan.fold
        flag = data.StructLayout({"first": 1})
        members = {
            "i": In(stream.Signature(sample_layout(plan.in_word, plan.in_channels)
                                     if self.registered_input else flag)),
            "o": Out(stream.Signature(flag if to_handoff else
                                      sample_layout(plan.out_word, plan.out_channels))),
        }
        if not self.registered_input:
            source_groups = -(-plan.in_channels // self.source_lanes)
            members.update({
                "read_en": Out(1).array(fold.rows),
                "read_group": Out(range(source_groups)).array(fold.rows),
                "read_lane": Out(range(self.source_lanes)).array(fold.rows),
                "read_data": In(word_shape(plan.in_word)).array(fold.rows),
            })
        if to_handoff:
            members.update({
                "write": Out(1), "write_group": Out(range(fold.output_passes)),
                "write_data": Out(plan.out_word.bits * fold.outputs),
            })
        super().__init__(members)

    def elaborate(self, platform) -> Module:
        m = Module()
        plan, fold = self.plan, self.plan.fold
        lanes = plan.lanes()
        in_shape = word_shape(plan.in_word)
        groups = fold.output_passes

        m.submodules.history = history = History(plan.kernel_size, plan.dilation)
        m.submodules.sequencer = seq = PassSequencer(plan, self.source_lanes)
        field = plan.rom_field_bits
        m.submodules.rom = rom = memory.Memory(shape=unsigned(field * fold.lanes),
                                                depth=fold.passes, init=plan.rom())
        rom_read = rom.read_port()
        m.d.comb += rom_read.addr.eq(seq.index)

        first = Signal()
        carry = Signal()
        if self.registered_input:
            # Datapath registers need no reset: nothing reads them before they are written.
            x = Array(Signal(in_shape, name=f"x_{channel}", reset_less=True)
                      for channel in range(plan.in_channels))

        # The tokens of the passes (valid, first, last, group), one cycle later per stage: at
        # the issue, the reads, the operands and the products. The datapath registers load
        # only when their stage holds a pass (flip-flop enables): an idle layer holds still.
        tokens = [[seq.busy, seq.first, seq.last, seq.group]]
        for _ in range(PRODUCT_CYCLES):
            delayed = [Signal.like(value) for value in tokens[-1]]
            m.d.sync += [d.eq(v) for d, v in zip(delayed, tokens[-1], strict=True)]
            tokens.append(delayed)

        # Operands, registered two cycles after the pass's issue.
        operands = [Signal(in_shape, name=f"operand_{lane}", reset_less=True)
                    for lane in range(fold.rows)]
        weights = Signal.like(rom_read.data, reset_less=True)
        with m.If(tokens[1][0]):
            m.d.sync += weights.eq(rom_read.data)
        last_reads, selected = [], []
        for lane_index, lane in enumerate(lanes):
            # The input word of this cycle's row, one cycle after its issue.
            if self.registered_input:
                x_selected = Signal(in_shape, name=f"x_selected_{lane_index}",
                                    reset_less=True)
                with m.If(seq.busy):
                    m.d.sync += x_selected.eq(x[seq.source_lane[lane_index]])
            else:
                m.d.comb += [self.read_en[lane_index].eq(seq.busy),
                             self.read_group[lane_index].eq(seq.source_group[lane_index]),
                             self.read_lane[lane_index].eq(seq.source_lane[lane_index])]
                x_selected = self.read_data[lane_index]
            selected.append(x_selected)
            is_input = Signal(name=f"is_input_{lane_index}")
            seen = Signal(name=f"seen_{lane_index}")
            with m.If(seq.busy):
                m.d.sync += [is_input.eq(seq.tap[lane_index] == 0),
                             seen.eq(history.seen.bit_select(seq.tap[lane_index], 1))]
            if lane.delay_rows == 0:
                with m.If(tokens[1][0]):
                    m.d.sync += operands[lane_index].eq(x_selected)
                last_reads.append(None)
                continue
            lines = DelayLines(in_shape, lane.delay_rows, plan.dilation)
            m.submodules[f"lines_{lane_index}"] = lines
            last_reads.append(lines.rdata)
            with m.If(tokens[1][0]):
                m.d.sync += operands[lane_index].eq(
                    Mux(is_input, x_selected, Mux(seen, lines.rdata, 0)))
            tap = seq.tap[lane_index]
            with m.If(carry):
                m.d.comb += lines.addr.eq(history.head)
            with m.Else():
                m.d.comb += lines.addr.eq(seq.line_base[lane_index] + history.head)
            # In the last group each row moves tap j-1's word into its line: the word read
            # (or, for j = 1, the input selected) by the row before it in the chunk.
            m.d.comb += [
                lines.write.eq(seq.busy & seq.last_group & (tap != 0) & ~seq.first
                               & seq.exists[lane_index]),
                lines.wdata.eq(Mux(tap == 1, x_selected, lines.rdata)),
            ]
        # A chunk that starts inside channel i at tap j takes tap j-1's word from the end of
        # the previous chunk, once the passes are done.
        for lane_index, lane in enumerate(lanes):
            if not lane.starts_inside_channel:
                continue
            _, tap = lane.rows[0]
            lines = m.submodules[f"lines_{lane_index}"]
            # The previous chunk ends on (channel, tap - 1): its input word, or its read.
            source = selected[lane_index - 1] if tap == 1 else last_reads[lane_index - 1]
            with m.If(carry):
                m.d.comb += [lines.write.eq(1), lines.wdata.eq(source)]

        # Products, three cycles after the issue; the tokens travel alongside.
        m.submodules.accumulators = acc = Accumulators(
            fold.rows, fold.outputs, plan.acc_bits,
            [[plan.bias[g * fold.outputs + o] if g * fold.outputs + o < plan.out_channels
              else 0 for o in range(fold.outputs)] for g in range(groups)])
        for lane_index in range(fold.rows):
            for out_lane in range(fold.outputs):
                offset = (lane_index * fold.outputs + out_lane) * field
                code = weights[offset:offset + field]
                if plan.po2:
                    low, _ = plan.po2_exponents
                    unit = Po2Product(in_shape, plan.po2_shift_bits, low, plan.acc_bits,
                                      plan.product_shift)
                    m.d.comb += [unit.x.eq(operands[lane_index]), unit.code.eq(code),
                                 unit.enable.eq(tokens[2][0])]
                else:
                    unit = FixedProduct(in_shape, word_shape(plan.weight_word), plan.acc_bits,
                                        plan.product_shift)
                    m.d.comb += [unit.x.eq(operands[lane_index]), unit.w.eq(code.as_signed()),
                                 unit.enable.eq(tokens[2][0])]
                m.submodules[f"product_{lane_index}_{out_lane}"] = unit
                m.d.comb += acc.products[out_lane][lane_index].eq(unit.product)
        token = tokens[PRODUCT_CYCLES]
        m.d.comb += [acc.valid.eq(token[0]), acc.first.eq(token[1]), acc.last.eq(token[2]),
                     acc.group.eq(token[3])]

        # Each completed group, rounded and saturated, into the output register.
        finished = acc.done & (acc.done_group == groups - 1)
        words = []
        for out_lane in range(fold.outputs):
            if plan.requantize is None:
                # A linear layer passes the sum on: it fits the output word by the bound.
                words.append(acc.acc[out_lane][:plan.out_word.bits].as_signed())
                continue
            requantizer = Requantizer(plan.acc_bits, word_shape(plan.out_word),
                                      plan.requantize)
            m.submodules[f"requantize_{out_lane}"] = requantizer
            m.d.comb += requantizer.acc.eq(acc.acc[out_lane])
            words.append(requantizer.word)
        if self.to_handoff:
            m.d.comb += [self.write.eq(acc.done), self.write_group.eq(acc.done_group),
                         self.write_data.eq(Cat(*words))]
        else:
            out_words = [Signal(word_shape(plan.out_word), name=f"y_{channel}",
                                reset_less=True) for channel in range(plan.out_channels)]
            m.d.comb += [self.o.payload.words[channel].eq(word)
                         for channel, word in enumerate(out_words)]
            for out_lane, word in enumerate(words):
                for group in range(groups):
                    channel = group * fold.outputs + out_lane
                    if channel < plan.out_channels:
                        with m.If(acc.done & (acc.done_group == group)):
                            m.d.sync += out_words[channel].eq(word)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        out_first = Signal()
        m.d.comb += self.o.payload.first.eq(out_first)
        with m.If(finished):
            m.d.sync += [self.o.valid.eq(1), out_first.eq(first)]

        with m.FSM():
            with m.State("idle"):
                m.d.comb += self.i.ready.eq(~self.o.valid)
                with m.If(self.i.valid & ~self.o.valid):
                    m.d.sync += first.eq(self.i.payload.first)
                    if self.registered_input:
                        m.d.sync += [x[channel].eq(self.i.payload.words[channel])
                                     for channel in range(plan.in_channels)]
                    m.d.comb += [history.start.eq(1), history.first.eq(self.i.payload.first),
                                 seq.start.eq(1)]
                    m.next = "issue"
            with m.State("issue"), m.If(seq.done):
                m.next = "carry"
            with m.State("carry"):
                m.d.comb += [carry.eq(1), history.advance.eq(1)]
                m.next = "drain"
            with m.State("drain"), m.If(finished):
                m.next = "idle"
        return m
