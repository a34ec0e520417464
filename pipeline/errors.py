"""User-facing errors and the stage entry-point wrapper.

A mistake in a config file or an input file is the user's to fix, so it is reported as one
line naming the file or field, with a non-zero exit and no traceback. Anything else is a bug
and keeps its traceback.
"""

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """An error caused by the user's input (config, data files); its message is one line."""


class ConfigError(PipelineError):
    """A config file is missing, malformed, or holds an invalid value."""


class DataError(PipelineError):
    """An input data file (audio or manifest) is unusable."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`, turning user errors into `error: <message>` and exit status 2."""
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
