"""Time one training step at the default batch: Keras `fit` against the whole epoch
compiled into one `tf.function` (what `pipeline.train.training` runs), and that compiled
epoch with TensorFlow's graph optimiser, Grappler, on against off (`seed_everything` turns
it off, for reproducible training; only its arithmetic optimiser made a compiled epoch
differ between compilations), and the quantised model's step against its float twin's
(the same convolutions in float32: what QKeras's quantisers add), with the float twin's
arithmetic rate, which bounds how cheap a training step can get.

    .venv/bin/python benchmarks/training_step.py --model fixed16_k3x7

Prints the median milliseconds per step of `repeats` epochs each, and their ratios. The
Grappler and float twin comparisons alternate fresh compilations, `rounds` of each, so that
a change in the machine's load falls on all of them.
"""

import argparse
import time
from pathlib import Path

import pipeline  # noqa: F401  (before TensorFlow: oneDNN off, as in the stages)

# isort: split
import keras
import numpy as np
import tensorflow as tf

from pipeline.config import load_model_config, load_params, model_config_path
from pipeline.data.dataset import load_split
from pipeline.train.model import build_model
from pipeline.train.training import (
    _Restart,
    check_window,
    epoch_windows,
    masked_mse,
    pin_threads,
    seed_everything,
)

# Grappler's defaults, which each setting compared changes.
FULLY_ON = {"disable_meta_optimizer": False, "arithmetic_optimization": True}


def median_ms_per_step(run_epoch, steps: int, repeats: int) -> float:
    run_epoch()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_epoch()
        times.append((time.perf_counter() - start) / steps)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--repeats", default=5, type=int)
    parser.add_argument("--rounds", default=3, type=int)
    args = parser.parse_args()
    pin_threads()  # as training runs, and before `fit`'s first op
    params = load_params(Path("params.yaml"))
    config = load_model_config(model_config_path(Path("configs/models"), args.model))
    train = load_split(args.data, "train")
    window = check_window(config, params.train, train)
    batch, steps = params.train.batch_size, params.train.steps_per_epoch
    xs, ys = epoch_windows(train, window, batch, steps, np.random.default_rng(0))

    model = build_model(config, params.train.l2)
    model.compile(optimizer=keras.optimizers.Adam(params.train.learning_rate),
                  loss=masked_mse(config.receptive_field - 1))
    inputs, targets = xs.reshape(-1, window, xs.shape[-1]), ys.reshape(-1, window, 1)
    fit = median_ms_per_step(lambda: model.fit(inputs, targets, batch_size=batch, epochs=1,
                                               shuffle=False, verbose=0), steps, args.repeats)
    seed_everything(params.seed)
    as_trained = tf.config.optimizer.get_experimental_options()
    # name -> (Grappler options, quantised model)
    settings = {"as trained": (as_trained, True), "fully on": ({}, True),
                "arithmetic optimiser off": ({"arithmetic_optimization": False}, True),
                "float twin": (as_trained, False)}
    per_step: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, (options, quantized) in settings.items():
            # Read when a function is first compiled, so each restart gets its own setting.
            tf.config.optimizer.set_experimental_options({**FULLY_ON, **options})
            restart = _Restart(0, config, params.train, params.seed, window, quantized)
            per_step[name].append(
                median_ms_per_step(lambda r=restart: r.epoch(xs, ys), steps, args.repeats))
    medians = {name: float(np.median(times)) for name, times in per_step.items()}
    twin = medians.pop("float twin")
    print(f"{args.model}, batch {batch} x {window} samples, {steps} steps per epoch, "
          f"median of {args.repeats} epochs:")
    print(f"  keras fit:                  {fit:.2f} ms/step")
    # `fit` ran before `seed_everything`, with Grappler on: compared like with like.
    print(f"  ratio fit / tf.function:    {fit / medians['fully on']:.2f} (Grappler on)")
    for name, median in medians.items():
        print(f"  Grappler {name + ':':<26} {median:.2f} ms/step, ratio to fully on "
              f"{median / medians['fully on']:.2f} (median of {args.rounds} compilations)")
    # A step is the forward pass and two products of the same size backwards (the gradients
    # of the inputs and of the kernels): three multiply-adds, six flops, per product.
    products = sum(c.kernel_size * c.in_channels * c.out_channels
                   for c in config.convolutions())
    gflops = 6 * products * batch * window / (twin * 1e-3) / 1e9
    print(f"  float twin (as trained):    {twin:.2f} ms/step, quantised / float "
          f"{medians['as trained'] / twin:.2f}; {gflops:.1f} GFLOP/s in its convolutions "
          f"({products} products per sample)")


if __name__ == "__main__":
    main()
