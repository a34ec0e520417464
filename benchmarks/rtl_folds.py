"""The RTL design at several folds: the hard multipliers the fold promises (lanes times the
18x18 multipliers one product takes) beside what yosys maps for ECP5 (MULT18X18D) and
7-series (DSP48E1), with the LUTs, flip-flops and block RAMs that come with them, and how
long each synthesis took. Optionally nextpnr-ecp5 for Fmax.

    .venv/bin/python benchmarks/rtl_folds.py [--pnr] [--models fixed16 po2 k3_8bit]

Fold choices per model: `rate` (the default: 192 kHz at 100 MHz, pipeline.fixed.folding
.fold_for_rate), `R<n>` (an explicit ReuseFactor n for every layer, fold_for_passes).
Weights: `exports/<model>/weights.json` when it exists, else the untrained architecture
(`k3_8bit` is the test suite's small 8-bit model, seeded).
"""

import argparse
import tempfile
from pathlib import Path

from pipeline.fixed.folding import fold_for_passes, fold_for_rate
from pipeline.fixed.reference import FixedPointReference
from pipeline.rtl.generate import write_project
from pipeline.rtl.plan import XC7_MULTIPLIER, multipliers_per_product, plan_design
from pipeline.rtl.synthesis import synthesize

CHOICES = {"fixed16": ["rate", "R64", "R16"], "po2": ["rate", "R32"],
           "k3_8bit": ["rate", "R4", "R1"]}
K3_8BIT = {
    "input_quantizer": {"type": "quantized_bits", "bits": 12, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 8, "integer": 2},
    "bias_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "activation": {"type": "quantized_relu", "bits": 8, "integer": 3},
    "layers": [{"filters": 6, "kernel_size": 3, "dilation": 1},
               {"filters": 6, "kernel_size": 3, "dilation": 2},
               {"filters": 6, "kernel_size": 3, "dilation": 4},
               {"filters": 1, "kernel_size": 2, "dilation": 8}],
}


def load(model: str):
    from pipeline.fixed.weights import read_weights
    weights = Path("exports") / model / "weights.json"
    if weights.exists():
        return read_weights(weights)
    import keras
    import yaml

    from pipeline.config import load_model_config, model_config_path
    from pipeline.fixed.reader import from_qkeras
    from pipeline.train.model import build_model
    if model == "k3_8bit":
        path = Path(tempfile.mkdtemp()) / "k3_8bit.yaml"
        path.write_text(yaml.safe_dump(K3_8BIT))
    else:
        path = model_config_path(Path("configs/models"), model)
    keras.utils.set_random_seed(7)
    return from_qkeras(build_model(load_model_config(path)))


def folds(exported, choice: str):
    shapes = [(layer.kernel_size * layer.in_channels, layer.out_channels)
              for layer in exported.layers]
    if choice == "rate":
        return [fold_for_rate(rows, outs, 1e8, 192_000) for rows, outs in shapes]
    return [fold_for_passes(rows, outs, int(choice[1:])) for rows, outs in shapes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(CHOICES))
    parser.add_argument("--pnr", action="store_true", help="also nextpnr-ecp5 (Fmax)")
    args = parser.parse_args()
    print("| model | fold | lanes per layer (s: po2 shifters) | analytic multipliers ECP5 / xc7 | "
          "ECP5 MULT18X18D | xc7 DSP48E1 | ECP5 LUT4 | ECP5 FF | DP16KD | xc7 LUT | xc7 FF | "
          "cycles/sample | Fmax MHz | yosys ECP5 s | yosys xc7 s | nextpnr s |")
    print("| --- " * 16 + "|")
    for model in args.models:
        exported = load(model)
        for choice in CHOICES[model]:
            plan = plan_design(exported, folds(exported, choice), 1e8)
            analytic = sum(layer.fold.lanes * multipliers_per_product(layer)
                           for layer in plan.layers)
            analytic_xc7 = sum(layer.fold.lanes * multipliers_per_product(layer, XC7_MULTIPLIER)
                               for layer in plan.layers)
            with tempfile.TemporaryDirectory() as tmp:
                project = write_project(plan, FixedPointReference(exported),
                                        Path(tmp) / "p", "xc7z020clg400-1")
                result = synthesize(project, Path(tmp) / "reports", args.pnr)
            m, s = result.metrics, result.seconds
            lanes = "/".join(str(layer.fold.lanes) + ("s" if layer.po2 else "")
                             for layer in plan.layers)
            fmax = (f"{m['ecp5_fmax_mhz']:.1f}" + ("" if m["ecp5_timing_met"] else " (fails)")
                    if "ecp5_fmax_mhz" in m else "-" if m["ecp5_fits"] else "does not fit")
            pnr = f"{s['pnr_seconds']:.0f}" if "pnr_seconds" in s else "-"
            print(f"| {model} | {choice} | {lanes} | {analytic} / {analytic_xc7} | "
                  f"{m['ecp5_mult18']} | {m['xc7_dsp48']} | {m['ecp5_lut4']} | {m['ecp5_ff']} | "
                  f"{m['ecp5_dp16kd']} | {m['xc7_lut']} | {m['xc7_ff']} | "
                  f"{project.design['interval']} | {fmax} | {s['ecp5_synth_seconds']:.0f} | "
                  f"{s['xc7_synth_seconds']:.0f} | {pnr} |", flush=True)


if __name__ == "__main__":
    main()
