"""collect: synthesise (and/or import) the waveshaping dataset into one folder."""

import argparse
import itertools
from pathlib import Path

from pipeline.config import load_params
from pipeline.data import recorded, synth
from pipeline.data.dataset import write_dataset
from pipeline.data.segments import segment_pairs
from pipeline.errors import run_stage
from pipeline.outputs import check_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--out", default="data/dataset", type=Path)
    args = parser.parse_args()

    params = load_params(args.params)
    check_output(args.out, "collect")
    data = params.data
    imported, synthesised = [], iter(())
    if data.source in ("recorded", "both"):
        # Every recorded pair is checked before anything is synthesised or written.
        pairs = recorded.load_pairs(data.recorded, data.sample_rate)
        print(recorded.pairs_table(pairs))
        imported = segment_pairs(pairs, data.recorded, data.sample_rate, params.seed)
    if data.source in ("synth", "both"):
        synthesised = synth.synthesize(data.synth, data.sample_rate, params.seed, progress=True)
    segments = write_dataset(args.out, itertools.chain(imported, synthesised))
    print(f"collect: wrote {len(segments)} segments to {args.out}")


if __name__ == "__main__":
    run_stage(main)
