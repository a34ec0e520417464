"""The RTL design against the fixed-point reference over the whole validate signal set (every
test segment and the sweep, each from a start-of-stream flag, several back to back per
simulation process), for a model the default pipeline does not build: a K=2 stack of seven
layers with dilations 1 to 64, or a model with a po2 pair; or any exported weight file.

    .venv/bin/python scripts/rtl_equivalence.py k2_seven_layers [--reuse-factor R]
    .venv/bin/python scripts/rtl_equivalence.py po2_pair
    .venv/bin/python scripts/rtl_equivalence.py exports/fixed16/weights.json

Seeded random weights and biases (the arithmetic, not the training, is under test). Prints
the differing words, the cycles per sample and the simulation's speed; exits 1 if any word
differs.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from pipeline.config import HlsConfig, HlsLayerConfig, load_model_config, load_params
from pipeline.data import synth
from pipeline.data.dataset import load_split
from pipeline.fixed.weights import read_weights
from pipeline.rtl import flow

ARCHITECTURES = {
    "k2_seven_layers": {
        "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
        "kernel_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
        "bias_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
        "activation": {"type": "quantized_relu", "bits": 16, "integer": 4},
        "layers": [{"filters": 8, "kernel_size": 2, "dilation": 2**k} for k in range(6)]
        + [{"filters": 1, "kernel_size": 2, "dilation": 64}],
    },
    "po2_pair": {
        "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
        "kernel_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
        "bias_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 4},
        "activation": {"type": "quantized_relu", "bits": 16, "integer": 4},
        "layers": [
            {"filters": 8, "kernel_size": 4, "dilation": 1},
            {"filters": 8, "kernel_size": 1, "factorized_rank": 16,
             "kernel_quantizer": {"type": "quantized_po2", "bits": 4, "max_value": 1.0}},
            {"filters": 1, "kernel_size": 4, "dilation": 16},
        ],
    },
}


def random_exported(name: str, seed: int):
    """The architecture with seeded initial weights and seeded random biases."""
    import keras
    from qkeras import QConv1D

    from pipeline.fixed.reader import from_qkeras
    from pipeline.train.model import build_model
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(ARCHITECTURES[name]))
        config = load_model_config(path)
    keras.utils.set_random_seed(seed)
    model = build_model(config)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, QConv1D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0.0, 0.3, bias.shape).astype(np.float32)])
    return from_qkeras(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help=f"{' | '.join(ARCHITECTURES)} | a weights.json path")
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--reuse-factor", type=int, default=None,
                        help="an explicit ReuseFactor for every layer (default: the rate)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    exported = (random_exported(args.model, args.seed) if args.model in ARCHITECTURES
                else read_weights(Path(args.model)))
    params = load_params(args.params)
    config: HlsConfig = params.hls
    if args.reuse_factor is not None:
        config = config.model_copy(update={"layers": {
            layer.name: HlsLayerConfig(reuse_factor=args.reuse_factor)
            for layer in exported.layers}})
    test = load_split(args.data, "test")
    sweep = synth.sweep(params.validation.sweep, params.data.sample_rate,
                        params.data.synth.band_limit)
    with tempfile.TemporaryDirectory() as tmp:
        project, _ = flow.generate(exported, config, Path(tmp) / "project")
        figures = flow.verify(project, exported, [*test.inputs, sweep.inputs],
                              params.rtl.sim_processes)
    lanes = [layer["lanes"] for layer in project.design["layers"]]
    print(f"{args.model}: {len(exported.layers)} layers, dilations "
          f"{[layer.dilation for layer in exported.layers]}, lanes {lanes}")
    print(f"  {figures['rtl_vs_reference_mismatches']} of {figures['rtl_samples']:,} words "
          f"differ from the reference ({figures['rtl_segments']} signals, "
          f"{figures['rtl_mid_stream_starts']} starting in mid-stream)")
    print(f"  {figures['cycles_per_sample']} cycles per sample; "
          f"{figures['rtl_sim_cycles']:,} cycles in {figures['rtl_sim_seconds']:.1f} s "
          f"({figures['rtl_sim_cycles_per_second']:,.0f} cycles/s, "
          f"{figures['rtl_sim_processes']} processes)")
    sys.exit(1 if figures["rtl_vs_reference_mismatches"] else 0)


if __name__ == "__main__":
    main()
