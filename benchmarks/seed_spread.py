"""Train one model config with several seeds, as the train stage does (params.yaml's recipe,
its restarts included), and print each seed's test ESR with their median and spread: a
scheme comparison means something only when it exceeds this spread (issue 19).

    .venv/bin/python benchmarks/seed_spread.py --model fixed16 --seeds 1 2 3 4 5
    .venv/bin/python benchmarks/seed_spread.py --model fixed16 --seeds 1 2 3 --budget 2
    .venv/bin/python benchmarks/seed_spread.py --models-dir benchmarks/models --model k3x5 \
        --seeds 1 2 --set l2=0.0001

`--models-dir benchmarks/models` holds the architectures the defaults were chosen from;
`--set key=value` changes a `train` setting of params.yaml (YAML values).

`--budget 2` doubles the training budget (epochs and warm-up): more budget should never give
a worse median. The float twin is left out (`--twin` trains it too, beside each seed;
`--float` trains it alone, in place of the quantised model). Prints
one line per seed as it finishes (its training wall time too), then the summary; `--jsonl`
appends every seed's figures to a file. Training gives each TensorFlow kernel one thread
(`training.pin_threads`), as the train stage does: a seed trains here exactly as there, and
two processes share two cores.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from pipeline.config import TrainConfig, load_model_config, load_params, model_config_path
from pipeline.data.dataset import load_split
from pipeline.data.shapes import SPLITS
from pipeline.train import inference, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="fixed16")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--budget", type=float, default=1.0,
                        help="multiply train.epochs and train.warmup_epochs by this")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--twin", action="store_true", help="train the float twin too")
    which.add_argument("--float", action="store_true", dest="float_only",
                       help="train the float twin alone, in place of the quantised model")
    parser.add_argument("--models-dir", default="configs/models", type=Path)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="train settings to change, e.g. l2=0.0001 restarts=2")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--jsonl", type=Path)
    args = parser.parse_args()
    params = load_params(Path("params.yaml"))
    config = load_model_config(model_config_path(args.models_dir, args.model))
    changes = dict(change.split("=", 1) for change in args.set)
    recipe = TrainConfig.model_validate({
        **params.train.model_dump(), **{k: yaml.safe_load(v) for k, v in changes.items()}})
    recipe = recipe.model_copy(update={"epochs": round(recipe.epochs * args.budget),
                                       "warmup_epochs": round(recipe.warmup_epochs
                                                              * args.budget)})
    train, validation, test = (load_split(args.data, split) for split in SPLITS)
    skip = config.receptive_field - 1
    corners = []
    kind = " (float twin alone)" if args.float_only else ""
    print(f"{args.model}{kind}: {recipe.epochs} epochs ({recipe.warmup_epochs} of warm-up), "
          f"{recipe.restarts} restarts per seed, l2 {recipe.l2:g}, {recipe.loss} loss")
    for seed in args.seeds:
        start = time.perf_counter()
        result = training.train(config, recipe, train, validation, seed, verbose=False,
                                float_twin=args.twin, quantized=not args.float_only)
        seconds = time.perf_counter() - start
        figures = inference.evaluate(result.model, test, skip)
        figures.update(inference.restart_spread(result, test, skip, figures["esr_corners"]))
        if result.float_twin is not None:
            figures["float_esr_corners"] = inference.evaluate(result.float_twin.model, test,
                                                              skip)["esr_corners"]
        corners.append(figures["esr_corners"])
        worst = max(figures[f"esr_{shape}"] for shape in ("sine", "ramp", "square", "zigzag"))
        twin = (f", float twin {figures['float_esr_corners']:.4f}"
                if "float_esr_corners" in figures else "")
        print(f"  seed {seed}: esr_corners {figures['esr_corners']:.4f}, worst corner "
              f"{worst:.4f}, esr_edges {figures['esr_edges']:.4f}, held-out "
              f"{figures['esr_heldout_freq']:.4f}{twin}, trained in {seconds:.0f} s",
              flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as out:
                out.write(json.dumps({"model": args.model, "float": args.float_only,
                                      "budget": args.budget, "seed": seed,
                                      "seconds": seconds, **figures}) + "\n")
    median = float(np.median(corners))
    print(f"{args.model} x{args.budget:g} budget, {len(corners)} seeds: esr_corners median "
          f"{median:.4f}, range {min(corners):.4f} to {max(corners):.4f}, "
          f"(max - min) / median {(max(corners) - min(corners)) / median:.2f}")


if __name__ == "__main__":
    main()
