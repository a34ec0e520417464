"""User-facing errors and the stage entry-point wrapper.

A mistake in a config file or an input file is the user's to fix, so it is reported as one
line naming the file or field, with a non-zero exit and no traceback. Anything else is a bug
and keeps its traceback.

SIGTERM and SIGINT become an `Interrupted` exception in a stage, so that it unwinds like any
error: staged outputs are removed, an open MLflow run ends KILLED, training threads stop.
The stage then exits with status 128 + the signal's number (130 for SIGINT, 143 for SIGTERM),
as a shell reports a process killed by it, after Python's own clean-up (temporary folders).
"""

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PipelineError(Exception):
    """An error caused by the user's input (config, data files); its message is one line."""


class ConfigError(PipelineError):
    """A config file is missing, malformed, or holds an invalid value."""


class DataError(PipelineError):
    """An input data file (audio or manifest) is unusable."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame) -> None:
    # One exception per stage run: later signals are ignored while it unwinds (SIGKILL still
    # works), so that the clean-up itself is not cut short.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise Interrupted(signum)


def _stage_wall_time() -> str:
    """`<stage> [<model>]: <seconds> s`, the wall time since the process started: imports
    count (TensorFlow's take seconds), so the lines of a `dvc repro` add up to its time."""
    import psutil

    script = Path(sys.argv[0])  # python -m package: its __main__.py
    words = [script.parent.name if script.stem == "__main__" else script.stem, *sys.argv[1:2]]
    name = " ".join(word for word in words if not word.startswith("-"))
    return f"{name}: {time.time() - psutil.Process().create_time():.1f} s"


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`, turning user errors into `error: <message>` and exit status 2,
    and SIGTERM/SIGINT into `Interrupted` and exit status 128 + the signal's number. A stage
    that succeeds prints its wall time last."""
    for stop_signal in STOP_SIGNALS:
        if signal.getsignal(stop_signal) is not signal.SIG_IGN:  # nohup, background jobs
            signal.signal(stop_signal, _interrupt)
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:
        print(f"stopped by {stop}; unfinished outputs were removed", file=sys.stderr)
        sys.exit(128 + stop.signum)
    print(_stage_wall_time(), flush=True)
