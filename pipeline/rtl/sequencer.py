"""The pass sequencer of a folded layer: which row each row lane reads on each pass, and
which output group the passes are on."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pipeline.rtl.plan import LayerPlan


class PassSequencer(wiring.Component):
    """The passes of one sample: after `start`, `busy` for `passes` cycles, on row pass `q`
    of output group `group` (ROM address `index`), and per row lane the row it is on: its
    input channel as (`source_group`, `source_lane`) of the `source_lanes` words the layer
    before writes at a time, its `tap` (age in dilations), the `line_base` of its delay line
    (line * dilation) and whether the row `exists` (the last chunk may be short; its padding
    repeats the chunk's last row)."""

    def __init__(self, plan: LayerPlan, source_lanes: int):
        self.plan, self.source_lanes = plan, source_lanes
        fold, lanes = plan.fold, plan.lanes()
        row_lanes = fold.rows
        lines_depth = max(1, max(lane.delay_rows for lane in lanes)) * plan.dilation
        source_groups = -(-plan.in_channels // source_lanes)
        super().__init__({
            "start": In(1), "busy": Out(1), "done": Out(1),
            "index": Out(range(fold.passes)), "q": Out(range(fold.row_passes)),
            "group": Out(range(fold.output_passes)),
            "first": Out(1), "last": Out(1), "last_group": Out(1),
            "source_group": Out(range(source_groups)).array(row_lanes),
            "source_lane": Out(range(source_lanes)).array(row_lanes),
            "tap": Out(range(plan.kernel_size)).array(row_lanes),
            "line_base": Out(range(lines_depth + plan.dilation)).array(row_lanes),
            "exists": Out(1).array(row_lanes),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        plan, fold = self.plan, self.plan.fold
        lanes = plan.lanes()
        k_last = plan.kernel_size - 1
        m.d.comb += [self.first.eq(self.q == 0), self.last.eq(self.q == fold.row_passes - 1),
                     self.last_group.eq(self.group == fold.output_passes - 1),
                     self.done.eq(self.busy & self.last & self.last_group)]

        def restart_rows():
            statements = []
            for lane_index, lane in enumerate(lanes):
                channel, tap = lane.rows[0] if lane.rows else (0, 0)
                statements += [
                    self.source_group[lane_index].eq(channel // self.source_lanes),
                    self.source_lane[lane_index].eq(channel % self.source_lanes),
                    self.tap[lane_index].eq(tap), self.line_base[lane_index].eq(0)]
            return statements

        for lane_index, lane in enumerate(lanes):
            m.d.comb += self.exists[lane_index].eq(self.q < len(lane.rows))
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), self.q.eq(0), self.group.eq(0), self.index.eq(0),
                         *restart_rows()]
        with m.Elif(self.busy):
            m.d.sync += self.index.eq(self.index + 1)
            with m.If(self.last):
                m.d.sync += [self.q.eq(0), self.group.eq(self.group + 1), *restart_rows()]
                with m.If(self.last_group):
                    # Back to pass 0, so that the idle ROM address stays in range.
                    m.d.sync += [self.busy.eq(0), self.index.eq(0)]
            with m.Else():
                m.d.sync += self.q.eq(self.q + 1)
                for lane_index, lane in enumerate(lanes):
                    group, lane_word = (self.source_group[lane_index],
                                        self.source_lane[lane_index])
                    tap, base = self.tap[lane_index], self.line_base[lane_index]
                    with m.If(self.q + 1 < len(lane.rows)):
                        with m.If(tap == k_last):
                            m.d.sync += tap.eq(0)
                            with m.If(lane_word == self.source_lanes - 1):
                                m.d.sync += [lane_word.eq(0), group.eq(group + 1)]
                            with m.Else():
                                m.d.sync += lane_word.eq(lane_word + 1)
                        with m.Else():
                            m.d.sync += tap.eq(tap + 1)
                        # The base stops at the lane's last line, so that an input row
                        # after it addresses a real word.
                        last_base = max(lane.delay_rows - 1, 0) * plan.dilation
                        with m.If((tap != 0) & (base != last_base)):
                            m.d.sync += base.eq(base + plan.dilation)
        return m
