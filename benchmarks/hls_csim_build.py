"""Seconds g++ takes to build the C simulation of generated HLS projects of growing size:
the pipeline's build (`HlsModel.compile`, the stream bridge the hls and validate stages run)
and the project's own `csim.sh` (its testbench build and a run over a 1,000-sample tb_data).

    .venv/bin/python benchmarks/hls_csim_build.py [--layers 3 6 12] [--filters 32] [--repeats 3]

(In a git worktree whose .venv is another checkout's, put the worktree first:
PYTHONPATH=. — a script's own folder, not the current one, starts sys.path.)

Each size is a WaveNet of `--layers` causal QConv1D layers (K=4, dilations 1, 2, 4, ...,
`--filters` filters, the last one filter) with fixed16's 16-bit quantisers and untrained
weights: the code g++ compiles depends on the shapes and words, not on the values. Prints
the median of `--repeats` builds per size, seconds per 1,000 multiply-accumulates a sample,
seconds per 1,000 MACs added since the previous size ("added": the slope, flat when the build
grows linearly with the model; the per-MAC column also carries the fixed cost of compiling
ap_types and the testbench, so it falls with size) and the largest size's ratio to the
smallest. Weights reach C simulation as integer words (pipeline/hls/weights.py, docs/hls.md).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import yaml

from pipeline.config import load_model_config
from pipeline.hls import convert
from pipeline.hls.simulation import CSimulation
from pipeline.train.model import build_model

QUANTISERS = {
    "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
    "bias_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
    "activation": {"type": "quantized_relu", "bits": 16, "integer": 4},
    "output_activation": {"type": "linear"},
}


def architecture(layers: int, filters: int, folder: Path):
    spec = {**QUANTISERS, "layers": [
        {"filters": 1 if index == layers - 1 else filters, "kernel_size": 4,
         "dilation": 2 ** index} for index in range(layers)]}
    path = folder / f"wavenet_{layers}x{filters}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_model_config(path)


def run_csim_sh(project: Path) -> None:
    subprocess.run(["sh", "csim.sh"], cwd=project, check=True, capture_output=True)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", default=[3, 6, 12], type=int, nargs="+")
    parser.add_argument("--filters", default=32, type=int)
    parser.add_argument("--repeats", default=3, type=int)
    args = parser.parse_args()
    x = np.random.default_rng(0).uniform(-1, 1, (1000, 3)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers in args.layers:
            folder = Path(tmp) / f"{layers}"
            folder.mkdir()
            hls_model = convert(build_model(architecture(layers, args.filters, folder)),
                                folder / "project", testbench_input=[x])
            macs = sum(layer.multiplies for layer in hls_model.exported.layers)
            build = partial(CSimulation, hls_model.project_dir, hls_model.config.project_name,
                            hls_model.n_in, hls_model.n_out)
            pipeline_build = statistics.median(timed(build) for _ in range(args.repeats))
            csim_sh = statistics.median(
                timed(partial(run_csim_sh, hls_model.project_dir)) for _ in range(args.repeats))
            rows.append((layers, macs, pipeline_build, csim_sh))
    print(f"C-simulation builds, K=4, {args.filters} filters, median of {args.repeats}:")
    print(f"  {'layers':>6} {'MACs':>8} {'pipeline (s)':>13} {'s / 1k MACs':>12} "
          f"{'added':>8} {'csim.sh (s)':>12} {'s / 1k MACs':>12} {'added':>8}")
    previous = None
    for layers, macs, pipeline_build, csim_sh in rows:
        added = ("", "") if previous is None else tuple(
            f"{1000 * (now - before) / (macs - previous[0]):.3f}"
            for now, before in ((pipeline_build, previous[1]), (csim_sh, previous[2])))
        print(f"  {layers:>6} {macs:>8,} {pipeline_build:>13.1f} "
              f"{1000 * pipeline_build / macs:>12.3f} {added[0]:>8} {csim_sh:>12.1f} "
              f"{1000 * csim_sh / macs:>12.3f} {added[1]:>8}")
        previous = (macs, pipeline_build, csim_sh)
    (_, small_macs, small_build, small_sh), (_, big_macs, big_build, big_sh) = rows[0], rows[-1]
    print(f"  largest / smallest: {big_macs / small_macs:.1f}x the MACs, "
          f"{big_build / small_build:.1f}x the pipeline build "
          f"({big_build * small_macs / (small_build * big_macs):.2f}x per MAC), "
          f"{big_sh / small_sh:.1f}x csim.sh "
          f"({big_sh * small_macs / (small_sh * big_macs):.2f}x per MAC)")
    print("  load average (1, 5, 15 min) at the end: "
          + ", ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
