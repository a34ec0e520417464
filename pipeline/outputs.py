"""Outputs appear whole or not at all, and a stage never deletes what it did not write.

Everything is written under a staging name beside its destination, `.<name>.staging-<random>`,
and renamed into place once complete, so an interrupted stage never leaves a file or folder
that looks complete to DVC. git (`.gitignore`) and DVC (`.dvcignore`) ignore that pattern.

A stage replaces an output folder only if it is absent, empty, or marked as an earlier
output of the same stage: the marker file `.pipeline-output`, written last before the rename,
names the stage in fixed text (so DVC's hash of the folder is the same for the same
contents). Anything else, such as `--out` pointed at a folder of recordings, is refused with
a one-line error and left untouched.

Each staging file or folder is held under an exclusive `flock` by the process writing it. The
kernel drops the lock when that process exits, however it exits (SIGKILL and the
out-of-memory killer included), so the next write to the same destination removes the
staging entries that no live process holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PipelineError

MARKER = ".pipeline-output"
STAGING = ".staging-"


class OutputError(PipelineError):
    """An output path holds something the stage did not write."""


def marker_text(stage: str) -> str:
    return (f"Written by the {stage} stage of the waveshaper pipeline, which replaces this "
            "folder whole when it runs again.\n")


def _is_previous_output(out: Path, stage: str, own_files: frozenset[str] | None) -> bool:
    if own_files is not None:
        return all(entry.name in own_files and entry.is_file() and not entry.is_symlink()
                   for entry in out.iterdir())
    marker = out / MARKER
    try:
        return marker.is_file() and marker.read_text() == marker_text(stage)
    except (OSError, UnicodeDecodeError):
        return False


def check_output(out: Path, stage: str, own_files: frozenset[str] | None = None) -> None:
    """Refuse `out` unless it is absent, an empty folder, or an earlier output of `stage`.

    `own_files`: for a folder that cannot hold a marker (a DVC plots folder, whose every file
    DVC renders), the file names the stage writes; the folder is its own if it holds nothing
    else."""
    out = Path(out)
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; the {stage} stage writes a folder of its "
                          f"own there and will not replace a link (remove it, or choose "
                          f"another output path)")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"{out}: is a file, not an output folder of the {stage} stage; "
                          f"refusing to replace it (move it away, or choose another output "
                          f"path)")
    if next(out.iterdir(), None) is None or _is_previous_output(out, stage, own_files):
        return
    what = ("files other than the stage's own" if own_files is not None
            else f"no {MARKER} marker of the {stage} stage")
    raise OutputError(f"{out}: not empty and not an earlier output of the {stage} stage "
                      f"({what}); refusing to replace it (move its contents away, or choose "
                      f"another output path)")


def check_file_output(path: Path) -> None:
    """An output file may replace a file, never a folder."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"{path}: is a folder; expected the path of an output file")


# ---------------------------------------------------------------- staging and its leftovers


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if a live process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _is_legacy_staging(entry: Path, name: str) -> bool:
    """Staging left by earlier versions, which locked nothing: tempfile.mkdtemp's folders
    `.<name>.` + 8 characters, and files `.<name>.tmp`."""
    if entry.name == f".{name}.tmp":
        return entry.is_file()
    return bool(re.fullmatch(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}", entry.name)) and \
        entry.is_dir() and not entry.is_symlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_stale_staging(destination: Path) -> list[Path]:
    """Remove the staging files and folders of `destination` that no live process holds
    (left by a killed run); returns what was removed."""
    destination = Path(destination)
    parent, name = destination.parent, destination.name
    if not parent.is_dir():
        return []
    prefix = f".{name}{STAGING}"
    removed = []
    for entry in parent.iterdir():
        if entry.name.startswith(prefix):
            fd = _try_lock(entry)
            if fd is None:
                continue
            try:
                _remove(entry)
            finally:
                os.close(fd)
        elif _is_legacy_staging(entry, name):
            _remove(entry)
        else:
            continue
        removed.append(entry)
    return removed


def _create(path: Path, directory: bool) -> None:
    """Create `path` exclusively, with the same permissions as a plain write (umask)."""
    if directory:
        os.mkdir(path)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))


@contextlib.contextmanager
def _locked_staging(destination: Path, directory: bool) -> Iterator[Path]:
    """A new staging folder (or file) beside `destination`, locked for as long as it lives;
    removed on the way out unless it was renamed into place."""
    while True:
        path = destination.with_name(f".{destination.name}{STAGING}{secrets.token_hex(4)}")
        try:
            _create(path, directory)
        except FileExistsError:
            continue
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A concurrent clean-up may have taken it between its creation and the lock.
        if path.exists() and os.path.samestat(os.stat(path), os.fstat(fd)):
            break
        os.close(fd)
    try:
        yield path
    finally:
        try:
            if path.exists() and os.path.samestat(os.stat(path), os.fstat(fd)):
                _remove(path)
        finally:
            os.close(fd)


def _swap_in(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; an existing `out` (already checked to be replaceable) is
    renamed aside under a staging name first and removed after."""
    if not out.exists():
        os.replace(staging, out)
        return
    aside = staging.with_name(staging.name + "-old")
    os.replace(out, aside)
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(out: Path, stage: str,
                     own_files: frozenset[str] | None = None) -> Iterator[Path]:
    """Yield an empty staging folder beside `out`. On success it is marked as `stage`'s
    output and replaces `out`; on any exception it is removed and `out` is left as it was.

    `out` must be absent, empty or an earlier output of `stage` (`check_output`), checked
    before anything is written and again before the rename."""
    out = Path(out)
    check_output(out, stage, own_files)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    with _locked_staging(out, directory=True) as staging:
        yield staging
        if own_files is None:
            (staging / MARKER).write_text(marker_text(stage))
        check_output(out, stage, own_files)
        _swap_in(staging, out)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    check_file_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(path)
    with _locked_staging(path, directory=False) as staging:
        staging.write_text(text)
        os.replace(staging, path)


def write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
