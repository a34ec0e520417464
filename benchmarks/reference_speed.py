"""Samples per second of the fixed-point streaming reference (`run` and `step`) against the
naive alternative that recomputes the Keras model over the whole receptive field for every
new sample.

    .venv/bin/python benchmarks/reference_speed.py [--model fixed16]

Uses `models/<model>/model.h5` when it exists (after `make run`), else the untrained
architecture from `configs/models/<model>.yaml`: the arithmetic is the same. Prints medians
of `--repeats` timings and the ratios.
"""

import argparse
import time
from pathlib import Path

import pipeline  # noqa: F401  (before TensorFlow: oneDNN off, as in the stages)

# isort: split
import numpy as np
import tensorflow as tf
from qkeras.utils import load_qmodel

from pipeline.config import load_model_config, model_config_path
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.train.model import build_model


def median_rate(work, samples: int, repeats: int) -> float:
    work()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return samples / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--samples", default=48_000, type=int, help="for run()")
    parser.add_argument("--step-samples", default=2_000, type=int)
    parser.add_argument("--naive-samples", default=200, type=int)
    parser.add_argument("--repeats", default=5, type=int)
    args = parser.parse_args()
    trained = Path("models") / args.model / "model.h5"
    config = load_model_config(model_config_path(Path("configs/models"), args.model))
    model = (load_qmodel(str(trained), compile=False) if trained.exists()
             else build_model(config))
    reference = FixedPointReference(from_qkeras(model))
    x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 3)).astype(np.float32)
    window = config.receptive_field

    run = median_rate(lambda: reference.run(x), args.samples, args.repeats)

    def stream():
        reference.reset()
        for sample in x[:args.step_samples]:
            reference.step(sample)

    step = median_rate(stream, args.step_samples, args.repeats)
    forward = tf.function(lambda w: model(w, training=False))
    padded = np.concatenate([np.zeros((window - 1, 3), np.float32), x])

    def naive():
        for t in range(args.naive_samples):
            forward(padded[None, t:t + window])

    recompute = median_rate(naive, args.naive_samples, args.repeats)
    source = str(trained) if trained.exists() else f"untrained {args.model}"
    print(f"{source}, receptive field {window}, median of {args.repeats}:")
    print(f"  reference run():          {run:12,.0f} samples/s")
    print(f"  reference step():         {step:12,.0f} samples/s")
    print(f"  naive Keras recompute:    {recompute:12,.0f} samples/s")
    print(f"  run / naive:              {run / recompute:12,.1f}x")
    print(f"  step / naive:             {step / recompute:12,.1f}x")


if __name__ == "__main__":
    main()
