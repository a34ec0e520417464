"""The C simulation of a generated project: built with g++ into a program of its own.

`stream_bridge.cpp` (written into the project) reads a whole signal on stdin as binary
doubles and writes the outputs on stdout, so Python's overhead is paid once per signal, not
per sample. Each signal runs in a fresh process: the layers' static caches start from
reset, several signals run side by side, and a crash of the compiled design (an ap_types
assertion, a segfault) becomes a one-line `SimulationError` instead of taking the caller
down.
"""

from __future__ import annotations

import contextlib
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

CXX_FLAGS = ["-O2", "-std=c++14", "-Wall", "-Wextra"]
CSIM_SUMMARY = re.compile(r"^(\d+) samples, (\d+) output words differ from tb_data$", re.M)


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


def describe_exit(returncode: int) -> str:
    """`killed by SIGABRT` for a signal, else `exit status N`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class CSimulation:
    """The compiled project: `run(x)` streams x (T, C_in) from reset and returns (T, C_out);
    `run_all` streams many signals, several at a time."""

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
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"predict: x must have shape (T, {self.n_in}), got {x.shape}")
        # The reference and QKeras see float32 input; the port quantises it like QKeras does.
        samples = np.ascontiguousarray(x.astype(np.float32), dtype=np.float64)
        # In the build folder: a core dump of a crash lands there and goes with it.
        done = subprocess.run([str(self.executable)], input=samples.tobytes(),
                              capture_output=True, cwd=self._build_dir)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            detail = f": {lines[-1].strip()[:300]}" if lines else ""
            raise SimulationError(f"{self.project_dir}: the C simulation of {self.project} "
                                  f"failed ({describe_exit(done.returncode)}){detail}")
        y = np.frombuffer(done.stdout, dtype=np.float64)
        if y.size != len(samples) * self.n_out:
            raise SimulationError(f"{self.project_dir}: the C simulation of {self.project} "
                                  f"returned {y.size} values for {len(samples)} samples of "
                                  f"{self.n_out} outputs")
        return y.reshape(len(samples), self.n_out).copy()

    def run_all(self, signals: Sequence[np.ndarray], threads: int = 1) -> list[np.ndarray]:
        """Every signal from reset, in up to `threads` processes at a time (one per signal;
        the threads only wait on them)."""
        if threads <= 1:
            return [self.run(x) for x in signals]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.run, signals))


@dataclass(frozen=True)
class CsimResult:
    samples: int
    mismatches: int


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
    return CsimResult(int(summary.group(1)), int(summary.group(2)))
