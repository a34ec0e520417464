"""The C simulation of a generated project: built with g++ into a program of its own.

`stream_bridge.cpp` (written into the project) reads samples on stdin as binary doubles,
each the start-of-stream flag and the inputs, drives them through the top level's
AXI4-Stream ports, and writes each output's flag and words on stdout, so Python's overhead is
paid once per stream, not per sample. Every signal starts with a start-of-stream flag;
`run_all` streams several signals back to back through one process (flags in mid-stream),
several processes side by side. A crash of the compiled design (an ap_types assertion, a
segfault) ends its process only and becomes a one-line `SimulationError` instead of taking
the caller down.

The build adds QUICK_BUILD_FLAGS, which turn off GCC 12 warning analyses that took most of a
large model's build while every weight was an `ap_fixed` literal with a constructor call to
compile. C simulation now reads the weights as integer words (`pipeline.hls.weights`), and
they change little (12 layers of 32 filters: 9.3 s with them, 9.1 s without); they stay for
an array that keeps hls4ml's literals (words over 62 bits). The objects are the same.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

QUICK_BUILD_FLAGS = ["-Wno-free-nonheap-object", "-Wno-mismatched-new-delete",
                     "-Wno-mismatched-dealloc"]
CXX_FLAGS = ["-O2", "-std=c++14", "-Wall", "-Wextra", *QUICK_BUILD_FLAGS]
CSIM_SUMMARY = re.compile(r"^(\d+) samples, (\d+) output words and (\d+) start-of-stream "
                          r"flags differ from tb_data$", re.M)


class CompileError(PipelineError):
    """g++ could not build the generated project."""


class SimulationError(PipelineError):
    """The compiled C simulation did not finish normally (a signal or a non-zero exit)."""


def compile_command(sources: list[str], output: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """g++ in the project folder; hls4ml's ap_types are system headers, so that -Wall
    -Wextra report little beyond our own code and hls4ml's generated firmware (docs/hls.md)."""
    return [os.environ.get("CXX", "g++"), *CXX_FLAGS, *extra, "-Ifirmware",
            "-isystem", "firmware/ap_types", *sources, "-o", str(output)]


def run_compiler(command: list[str], project_dir: Path) -> str:
    """Run g++ in the project folder; returns its diagnostics (warnings), raises on error."""
    try:
        done = subprocess.run(command, cwd=project_dir, capture_output=True, text=True)
    except FileNotFoundError:
        raise CompileError(f"{command[0]}: compiler not found (set CXX or install g++)") from None
    if done.returncode != 0:
        first = next((line for line in done.stderr.splitlines() if "error" in line),
                     done.stderr.strip()[:300])
        raise CompileError(f"{project_dir}: g++ failed: {first}")
    return done.stderr


def shortened(line: str, keep: int = 150) -> str:
    """A long diagnostic's start (where) and end (what: `Assertion ... failed.`)."""
    return line if len(line) <= 2 * keep + 5 else f"{line[:keep]} ... {line[-keep:]}"


def describe_exit(returncode: int) -> str:
    """`killed by SIGABRT` for a signal, else `exit status N`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class CSimulation:
    """The compiled project: `run(x)` streams x (T, C_in) from a start-of-stream flag and
    returns (T, C_out); `run_all` streams many signals, each from a flag."""

    def __init__(self, project_dir: Path, project: str, n_in: int, n_out: int):
        self.n_in, self.n_out, self.project = n_in, n_out, project
        self.project_dir = Path(project_dir)
        self._build_dir = Path(tempfile.mkdtemp(prefix="hls-csim-"))
        weakref.finalize(self, shutil.rmtree, self._build_dir, True)
        self.executable = self._build_dir / f"{project}_stream"
        command = compile_command(["stream_bridge.cpp", f"firmware/{project}.cpp"],
                                  self.executable)
        self.warnings = run_compiler(command, self.project_dir)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_stream([x])[0]

    def run_stream(self, signals: Sequence[np.ndarray],
                   flags: Sequence[bool] | None = None) -> list[np.ndarray]:
        """`signals` back to back through one process, each starting with a start-of-stream
        flag (or, with `flags`, only those flagged: the history carries on into the others;
        the first must be flagged, as the process starts from its initial state)."""
        flags = [True] * len(signals) if flags is None else list(flags)
        samples = []
        for x, flag in zip(signals, flags, strict=True):
            x = np.asarray(x)
            if x.ndim != 2 or x.shape[1] != self.n_in:
                raise ValueError(f"predict: x must have shape (T, {self.n_in}), got {x.shape}")
            if len(x) == 0:
                raise ValueError("predict: a signal needs at least one sample")
            column = np.zeros((len(x), 1))
            column[0] = float(flag)
            # The reference and QKeras see float32 input; the port quantises it like QKeras.
            samples.append(np.hstack([column, x.astype(np.float32).astype(np.float64)]))
        stream = np.ascontiguousarray(np.vstack(samples), dtype=np.float64)
        # In the build folder: a core dump of a crash lands there and goes with it.
        done = subprocess.run([str(self.executable)], input=stream.tobytes(),
                              capture_output=True, cwd=self._build_dir)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            detail = f": {shortened(lines[-1].strip())}" if lines else ""
            raise SimulationError(f"{self.project_dir}: the C simulation of {self.project} "
                                  f"failed ({describe_exit(done.returncode)}){detail}")
        y = np.frombuffer(done.stdout, dtype=np.float64)
        if y.size != len(stream) * (1 + self.n_out):
            raise SimulationError(f"{self.project_dir}: the C simulation of {self.project} "
                                  f"returned {y.size} values for {len(stream)} samples of "
                                  f"1 + {self.n_out} values (flag and outputs)")
        y = y.reshape(len(stream), 1 + self.n_out)
        if not np.array_equal(y[:, 0], stream[:, 0]):
            wrong = int(np.flatnonzero(y[:, 0] != stream[:, 0])[0])
            raise SimulationError(f"{self.project_dir}: the C simulation of {self.project}: "
                                  f"sample {wrong}'s output carries start-of-stream flag "
                                  f"{y[wrong, 0]:g}, its input {stream[wrong, 0]:g}")
        bounds = np.cumsum([len(x) for x in signals])[:-1]
        return [part.copy() for part in np.split(y[:, 1:], bounds)]

    def run_all(self, signals: Sequence[np.ndarray], threads: int = 1) -> list[np.ndarray]:
        """Every signal from a start-of-stream flag: the signals split into up to `threads`
        runs of consecutive signals, each streamed back to back through one process (flags in
        mid-stream), the processes side by side (the threads only wait on them)."""
        signals = list(signals)
        runs = max(1, min(threads, len(signals)))
        bounds = np.linspace(0, len(signals), runs + 1).round().astype(int)
        groups = [signals[start:stop] for start, stop in itertools.pairwise(bounds)]
        if runs == 1:
            return self.run_stream(signals) if signals else []
        with ThreadPoolExecutor(max_workers=runs) as pool:
            outputs = list(pool.map(self.run_stream, groups))
        return [y for group in outputs for y in group]


@dataclass(frozen=True)
class CsimResult:
    samples: int
    mismatches: int  # output words
    flag_mismatches: int  # start-of-stream flags (TUSER) of the outputs


_COMPILER_ERROR = re.compile(r"^(?P<where>\S[^\n]*?): (?:fatal )?error: (?P<message>.+)$", re.M)


def first_compiler_error(stderr: str) -> str | None:
    """g++'s first error as `file:line: message` (`<command-line>: message`, `cc1plus:
    message` when it has no source location), without the source excerpt, caret and notes
    that follow it. Source excerpts are indented, so they never match."""
    found = _COMPILER_ERROR.search(stderr)
    if found is None:
        return None
    where = re.sub(r"^(.*:\d+):\d+$", r"\1", found["where"])  # file:line:column -> file:line
    return f"{where}: {found['message']}"


def _run_group(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `command` in a process group of its own; if this process is interrupted (a
    stage's SIGTERM/SIGINT), kill the whole group: the shell script and g++ or the
    testbench it started."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_csim_elsewhere(project_dir: Path, name: Path | None = None) -> CsimResult:
    """Copy the project to a fresh temporary folder and run its `csim.sh` there: the
    testbench's verdict on tb_data/, and proof that the folder works once moved. `name`:
    the project's name in errors (default `project_dir`; the hls stage runs its staging
    folder, which is renamed into place only after this passed)."""
    name = name or project_dir
    with tempfile.TemporaryDirectory(prefix="hls-moved-") as tmp:
        moved = Path(tmp) / "project"
        shutil.copytree(project_dir, moved)
        done = _run_group(["./csim.sh"], moved)
    summary = CSIM_SUMMARY.search(done.stdout)
    if done.returncode not in (0, 1) or summary is None:
        lines = done.stderr.strip().splitlines() or ["no output"]
        detail = first_compiler_error(done.stderr) or lines[-1]
        raise CompileError(f"{name}/csim.sh failed (exit {done.returncode}): {detail}")
    return CsimResult(int(summary.group(1)), int(summary.group(2)), int(summary.group(3)))
