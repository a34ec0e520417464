"""How long the train stage takes to stop after SIGINT and SIGTERM, at the default settings.

    .venv/bin/python benchmarks/train_stop_latency.py --model fixed16 --data data/dataset

Runs the train stage in a subprocess (a temporary MLflow store and output folder), sends the
signal once the first epoch line appears, and times the process's exit. The restarts stop at
their next epoch boundary, so the figure is at most about one epoch. Prints, per signal, the
median of `repeats` runs, the epoch lines printed after the signal, and the run's status.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient


def stop_once(model: str, data: Path, stop_signal: signal.Signals) -> tuple[float, int, str]:
    with tempfile.TemporaryDirectory(prefix="stop-latency-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.train", model, "--data", str(data),
             "--out", f"{tmp}/model", "--metrics", f"{tmp}/metrics.json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for line in process.stdout:
            if " epoch " in line:
                break
        sent = time.perf_counter()
        process.send_signal(stop_signal)
        later = sum(" epoch " in line for line in process.stdout)
        process.wait()
        seconds = time.perf_counter() - sent
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("waveshaper").experiment_id])
        return seconds, later, f"{run.info.status}, exit {process.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--repeats", default=3, type=int)
    args = parser.parse_args()
    print(f"train {args.model} (params.yaml), signal after the first epoch line, "
          f"median of {args.repeats}:")
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        runs = [stop_once(args.model, args.data, stop_signal) for _ in range(args.repeats)]
        seconds = [s for s, _, _ in runs]
        print(f"  {stop_signal.name}: stopped after {np.median(seconds):.2f} s (max "
              f"{max(seconds):.2f} s); epoch lines after the signal: "
              f"{[n for _, n, _ in runs]}; runs: {sorted({status for *_, status in runs})}")


if __name__ == "__main__":
    main()
