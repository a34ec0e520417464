"""The previous stack against today's, in one run: fresh setup time, then training step time.

    .venv/bin/python benchmarks/stacks.py [--old-rev 127657d] [--data data/dataset]
                                          [--cold] [--rounds 3] [--python python3.11]

- old: `requirements.lock` of --old-rev (tensorflow-cpu 2.14.1, QKeras 0.9.0 on Keras 2,
  numpy 1.26), installed by pip into a new venv as that revision's `make venv` did;
- new: this tree's `uv.lock` (tensorflow-cpu 2.21, qkeras-v3 on Keras 3, numpy 2), installed
  by `uv sync --frozen` into a new venv as `make venv` does.

Setup time is the wall time of each install. `--cold` gives each install an empty package
cache, so everything is downloaded, as on a new machine; without it the user's caches serve
what they hold. Each stack then times training steps of fixed16 with its own code (a git
worktree of --old-rev; this tree) and its own `benchmarks/training_step.py`, the two
alternating for `--rounds` rounds so that a change in the machine's load hits both; printed
are the medians over rounds of each round's median ms per step, and their ratio.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r"(keras fit|epoch in one tf.function):\s+([\d.]+) ms/step")


def timed(command: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def uv_binary() -> str:
    local = ROOT / ".uv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("error: no uv: run `make venv` first (it installs uv in .uv/)")
    return found


def setup_old(work: Path, python: str, env: dict) -> float:
    """The old `make venv`: a venv, pip upgraded, the lock, then the project without deps."""
    venv = work / "old-venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    start = time.perf_counter()
    for command in ([python, "-m", "venv", str(venv)], [*pip, "--upgrade", "pip"],
                    [*pip, "-r", str(work / "old" / "requirements.lock")],
                    [*pip, "--no-deps", "--no-build-isolation", "-e", str(work / "old")]):
        subprocess.run(command, env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def setup_new(work: Path, python: str, env: dict) -> float:
    """`make venv`'s install: uv sync of the lock into a new environment."""
    env = {**env, "UV_PROJECT_ENVIRONMENT": str(work / "new-venv"),
           "UV_PYTHON_DOWNLOADS": "never"}
    return timed([uv_binary(), "sync", "--frozen", "--python", python], env, ROOT)


def step_times(python: Path, code: Path, data: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([str(python), "benchmarks/training_step.py", "--data", str(data),
                           "--repeats", "5"], env=env, cwd=code, check=True,
                          capture_output=True, text=True)
    return {name: float(ms) for name, ms in STEP.findall(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-rev", default="127657d")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--python", default="python3.11")
    parser.add_argument("--cold", action="store_true", help="empty package caches")
    parser.add_argument("--rounds", default=3, type=int)
    args = parser.parse_args()
    data = args.data.resolve()
    with tempfile.TemporaryDirectory(prefix="stacks-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "worktree", "add", "--detach", str(work / "old"), args.old_rev],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            env = dict(os.environ)
            if args.cold:
                env.update(PIP_CACHE_DIR=str(work / "pip-cache"),
                           UV_CACHE_DIR=str(work / "uv-cache"))
            setup = {"old": setup_old(work, args.python, env),
                     "new": setup_new(work, args.python, env)}
            stacks = {"old": (work / "old-venv" / "bin" / "python", work / "old"),
                      "new": (work / "new-venv" / "bin" / "python", ROOT)}
            rounds: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                for name, (python, code) in stacks.items():
                    rounds[name].append(step_times(python, code, data))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "old")],
                           cwd=ROOT, check=False, capture_output=True)
    caches = "empty caches (everything downloaded)" if args.cold else "the user's caches"
    print(f"fresh setup with {args.python}, {caches}: old (pip, requirements.lock of "
          f"{args.old_rev}) {setup['old']:.0f} s; new (uv sync, uv.lock) {setup['new']:.0f} s; "
          f"ratio old / new {setup['old'] / setup['new']:.2f}")
    print(f"training step, fixed16 at the default batch, median over {args.rounds} rounds "
          "of each round's median of 5 epochs:")
    for key in ("epoch in one tf.function", "keras fit"):
        old = statistics.median(r[key] for r in rounds["old"])
        new = statistics.median(r[key] for r in rounds["new"])
        print(f"  {key:26s} old {old:.2f} ms/step, new {new:.2f} ms/step, "
              f"ratio new / old {new / old:.2f}")


if __name__ == "__main__":
    main()
