"""How long the train stage takes to stop after SIGINT and SIGTERM, at the default settings.

    .venv/bin/python benchmarks/train_stop_latency.py --model fixed16 --data data/dataset

Runs the train stage in a subprocess (a temporary MLflow store and output folder), sends the
signal at a seeded random moment up to `--max-delay` seconds (about one epoch of fixed16 at
the default settings) after the first epoch line, and times the stage's `stopped by` line (training
stopped, MLflow run ended, staging removed) and the process's exit (after Python's and
TensorFlow's own shutdown). The restarts stop at their next epoch boundary, so the first
figure is at most about one epoch. Prints, per signal, medians of `repeats` runs, the epoch
lines printed after the signal, and the run's status.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient


def stop_once(model: str, data: Path, stop_signal: signal.Signals,
              delay: float) -> tuple[float, float, int, str]:
    with tempfile.TemporaryDirectory(prefix="stop-latency-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.train", model, "--data", str(data),
             "--out", f"{tmp}/model", "--metrics", f"{tmp}/metrics.json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        epochs: list[float] = []  # when each epoch line arrived
        stopped: list[float] = []
        first_epoch = threading.Event()

        def watch(stream, seen: list[float], text: str, event=None) -> None:
            for line in stream:
                if text in line:
                    seen.append(time.perf_counter())
                    if event is not None:
                        event.set()

        watchers = [threading.Thread(target=watch, args=(process.stdout, epochs, " epoch ",
                                                         first_epoch)),
                    threading.Thread(target=watch, args=(process.stderr, stopped, "stopped by "))]
        for watcher in watchers:
            watcher.start()
        first_epoch.wait()
        time.sleep(delay)
        sent = time.perf_counter()
        process.send_signal(stop_signal)
        process.wait()
        exited = time.perf_counter()
        for watcher in watchers:
            watcher.join()
        later = sum(t > sent for t in epochs)
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("waveshaper").experiment_id])
        return (stopped[0] - sent, exited - sent, later,
                f"{run.info.status}, exit {process.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--repeats", default=5, type=int)
    parser.add_argument("--max-delay", default=3.0, type=float)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"train {args.model} (params.yaml), signal 0 to {args.max_delay:g} s after the first "
          f"epoch line, median of {args.repeats}:")
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        runs = [stop_once(args.model, args.data, stop_signal, rng.uniform(0, args.max_delay))
                for _ in range(args.repeats)]
        stopped, exited = [r[0] for r in runs], [r[1] for r in runs]
        print(f"  {stop_signal.name}: stopped after {np.median(stopped):.2f} s (max "
              f"{max(stopped):.2f} s), exited after {np.median(exited):.2f} s (max "
              f"{max(exited):.2f} s); epoch lines after the signal: {[r[2] for r in runs]}; "
              f"runs: {sorted({r[3] for r in runs})}")


if __name__ == "__main__":
    main()
