"""Reading the files one stage hands to the next (the JSON figures in `metrics/`; a trained
model: `pipeline.train.model.load_model`), with a one-line error naming the file, what is
wrong with it, and which stage writes it, instead of a traceback from h5py or json.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pipeline.errors import PipelineError


class InputError(PipelineError):
    """A file written by an earlier stage is missing or unusable."""


def read_json(path: Path, error: type[PipelineError], expected: str) -> object:
    """The JSON content of `path`, or a one-line `error` naming the file: missing, not UTF-8,
    unreadable or not JSON; `expected` says what the file should be."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: missing; expected {expected}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text; expected {expected}") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror}); expected {expected}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column "
                    f"{err.colno}); expected {expected}") from None


def read_csv(path: Path, error: type[PipelineError], expected: str
             ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A UTF-8 CSV file (a byte-order mark is accepted) as its header and (line number, row)
    pairs, or a one-line `error` naming the file: unreadable, not UTF-8, not CSV, or a row
    with more or fewer fields than the header. `expected` says what the file should be."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    found = len(columns) + len(row.get(None, [])) - list(row.values()).count(None)
                    raise error(f"{path}: line {reader.line_num}: {found} fields where the "
                                f"header has {len(columns)}; expected {expected}")
                rows.append((reader.line_num, row))
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror}); expected {expected}") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                    f"{err.start}); expected {expected}") from None
    except csv.Error as err:
        raise error(f"{path}: not a readable CSV ({err}); expected {expected}") from None
    return columns, rows


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def read_figures(path: Path, stage: str) -> dict[str, float | list[float]]:
    """A JSON object of named numbers or lists of numbers (one per layer), as `stage` writes
    to `metrics/`."""
    path = Path(path)
    again = f"the {stage} stage writes (run it again)"
    figures = read_json(path, InputError, f"the figures {again}")
    if not isinstance(figures, dict):
        raise InputError(f"{path}: expected a JSON object of figures {again}, got a "
                         f"{type(figures).__name__}")
    for key, value in figures.items():
        if not (_is_number(value) or (isinstance(value, list) and value
                                      and all(_is_number(item) for item in value))):
            raise InputError(f"{path}: {key}: expected a number or a list of numbers, got "
                             f"{json.dumps(value)[:40]}")
    return figures
