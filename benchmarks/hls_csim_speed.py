"""Samples per second of the generated HLS project's C simulation (g++ -O2, one call of the
top function per sample, through `HlsModel.predict`), beside the NumPy fixed-point reference
and the audio rate; and of `CSimulation.run_all` over 16 segments, `--threads` at a time (the
validate stage's use).

    .venv/bin/python benchmarks/hls_csim_speed.py [--model fixed16] [--threads 2]

Uses `models/<model>/model.h5` when it exists (after `make run`), else the untrained
architecture from `configs/models/<model>.yaml`: the arithmetic is the same. Also prints the
g++ build time. Prints medians of `--repeats` timings and the ratios.
"""

import argparse
import tempfile
import time
from pathlib import Path

import pipeline  # noqa: F401  (before TensorFlow: oneDNN off, as in the stages)

# isort: split
import numpy as np
from qkeras.utils import load_qmodel
from reference_speed import median_rate  # benchmarks/ is on the path when run as a script

from pipeline.config import load_model_config, model_config_path
from pipeline.fixed.reference import FixedPointReference
from pipeline.hls import convert
from pipeline.train.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--samples", default=48_000, type=int)
    parser.add_argument("--repeats", default=5, type=int)
    parser.add_argument("--threads", default=2, type=int)
    args = parser.parse_args()
    trained = Path("models") / args.model / "model.h5"
    model = (load_qmodel(str(trained), compile=False) if trained.exists() else
             build_model(load_model_config(model_config_path(Path("configs/models"),
                                                             args.model))))
    x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        hls_model = convert(model, Path(tmp) / "project", testbench_input=[x[:1000]])
        start = time.perf_counter()
        hls_model.compile()
        build_seconds = time.perf_counter() - start
        reference = FixedPointReference(hls_model.exported)
        assert np.array_equal(hls_model.predict(x), reference.run(x)), "C sim != reference"
        csim = median_rate(lambda: hls_model.predict(x), args.samples, args.repeats)
        segments = np.array_split(x, 16)
        simulation = hls_model.compile()
        parallel = median_rate(lambda: simulation.run_all(segments, args.threads), args.samples,
                               args.repeats)
        numpy_rate = median_rate(lambda: reference.run(x), args.samples, args.repeats)
    print(f"{args.model} ({'trained' if trained.exists() else 'untrained'}), "
          f"{args.samples} samples, median of {args.repeats}:")
    print(f"  g++ build of the C simulation: {build_seconds:.1f} s")
    print(f"  C simulation (predict):        {csim:12,.0f} samples/s "
          f"({csim / 48_000:.1f}x real time at 48 kHz)")
    print(f"  run_all, 16 segments, {args.threads} at a time: {parallel:12,.0f} samples/s")
    print(f"  NumPy reference run():         {numpy_rate:12,.0f} samples/s")
    print(f"  ratio C sim / reference:       {csim / numpy_rate:.2f}")


if __name__ == "__main__":
    main()
