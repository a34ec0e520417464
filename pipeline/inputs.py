"""Reading the files one stage hands to the next (`models/<m>/model.h5`, the JSON figures in
`metrics/`), with a one-line error naming the file, what is wrong with it, and which stage
writes it, instead of a traceback from h5py or json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    import tensorflow as tf


class InputError(PipelineError):
    """A file written by an earlier stage is missing or unusable."""


def load_model(path: Path) -> tf.keras.Model:
    """The trained QKeras model the train stage wrote (an HDF5 file), uncompiled."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no trained model (run the train stage first)")
    from qkeras.utils import load_qmodel

    try:
        return load_qmodel(str(path), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        # h5py: "Unable to ... open file (truncated file: ...)", "(file signature not found)";
        # Keras: "No model config found in the file at <GFile object at 0x...>".
        reason = re.sub(r" at <[^>]*>", "", str(err).strip().splitlines()[0]).rstrip(".")
        raise InputError(f"{path}: cannot load the trained model ({reason}); expected the "
                         f"Keras HDF5 model the train stage writes (run it again)") from None


def read_figures(path: Path, stage: str) -> dict[str, float]:
    """A JSON object of named numbers, as `stage` writes to `metrics/`."""
    path = Path(path)
    again = f"the {stage} stage writes (run it again)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: missing (run the {stage} stage first)") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected the JSON figures {again}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        figures = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column "
                         f"{err.colno}); expected the figures {again}") from None
    if not isinstance(figures, dict):
        raise InputError(f"{path}: expected a JSON object of figures {again}, got a "
                         f"{type(figures).__name__}")
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{path}: {key}: expected a number, got {json.dumps(value)[:40]}")
    return figures
