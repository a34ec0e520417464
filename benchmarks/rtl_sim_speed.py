"""Speed of the RTL design's cycle-accurate simulation: the CXXRTL model's build (yosys
write_cxxrtl, then g++) and its cycles and samples per second, in one process and in several
side by side, beside Amaranth's own simulator and the audio rate.

    .venv/bin/python benchmarks/rtl_sim_speed.py [--model fixed16] [--samples 24000]

Uses `exports/<model>/weights.json` when it exists (after `make run`), else the untrained
architecture from `configs/models/<model>.yaml`: the design and its cycles are the same.
Prints medians of `--repeats` timings; every run is checked word for word against the
fixed-point reference.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.config import HlsConfig
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import read_weights
from pipeline.rtl.amaranth_sim import run_network
from pipeline.rtl.cxxrtl import CxxrtlSimulation
from pipeline.rtl.flow import design_plan
from pipeline.rtl.generate import write_project
from pipeline.rtl.streams import segment_starts


def load(model: str):
    weights = Path("exports") / model / "weights.json"
    if weights.exists():
        return read_weights(weights), "trained"
    from pipeline.config import load_model_config, model_config_path
    from pipeline.fixed.reader import from_qkeras
    from pipeline.train.model import build_model
    config = load_model_config(model_config_path(Path("configs/models"), model))
    return from_qkeras(build_model(config)), "untrained"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--samples", default=24_000, type=int)
    parser.add_argument("--segments", default=8, type=int)
    parser.add_argument("--repeats", default=3, type=int)
    parser.add_argument("--amaranth-samples", default=100, type=int)
    args = parser.parse_args()
    exported, kind = load(args.model)
    config = HlsConfig()
    plan = design_plan(exported, config)
    reference = FixedPointReference(exported)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.samples, exported.layers[0].in_channels)).astype(np.float32)
    words = exported.input_format.words(x)
    segments = np.array_split(words, args.segments)
    expected = [reference.run_words(x_part)[-1]
                for x_part in np.array_split(x, args.segments)]

    with tempfile.TemporaryDirectory() as tmp:
        project = write_project(plan, reference, Path(tmp) / "project", config.part)
        builds = []
        for _ in range(args.repeats):
            simulation = CxxrtlSimulation(project)
            builds.append((simulation.yosys_seconds, simulation.gxx_seconds))
        rates = {}
        for processes in (1, 2):
            timings = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                outputs, stats = simulation.run_segments(segments, processes)
                timings.append(time.perf_counter() - start)
                assert all(np.array_equal(a, b) for a, b in zip(outputs, expected, strict=True))
            cycles = sum(run["cycles"] for run in stats)
            seconds = statistics.median(timings)
            rates[processes] = (cycles / seconds, args.samples / seconds)

        small = words[:args.amaranth_samples]
        start = time.perf_counter()
        run = run_network(plan, small, segment_starts([len(small)]))
        amaranth_seconds = time.perf_counter() - start
        assert np.array_equal(run.words, reference.run_words(x[:len(small)])[-1])
        amaranth_cycles = run.delivered[-1] + 1

    interval = max(run["interval_max"] for run in stats)
    print(f"{args.model} ({kind}), {args.samples} samples in {args.segments} segments, "
          f"{interval} cycles per sample, median of {args.repeats}:")
    print(f"  CXXRTL build: yosys write_cxxrtl {statistics.median(b[0] for b in builds):.1f} s, "
          f"g++ {statistics.median(b[1] for b in builds):.1f} s")
    for processes, (cycles_rate, samples_rate) in rates.items():
        print(f"  CXXRTL, {processes} process{'es' if processes > 1 else ''}: "
              f"{cycles_rate:12,.0f} cycles/s {samples_rate:10,.0f} samples/s "
              f"({samples_rate / 48_000:.2f}x real time at 48 kHz)")
    print(f"  ratio 2 processes / 1:          {rates[2][0] / rates[1][0]:.2f}")
    print(f"  Amaranth simulator ({len(small)} samples): "
          f"{amaranth_cycles / amaranth_seconds:12,.0f} cycles/s; CXXRTL / Amaranth: "
          f"{rates[1][0] / (amaranth_cycles / amaranth_seconds):,.0f}x")


if __name__ == "__main__":
    main()
