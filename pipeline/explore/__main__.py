"""`python -m pipeline.explore <command>`: the frontier search (`make explore`).

  run       start `workers` worker processes on this machine against the study's storage,
            wait for them, then write the frontier (what `make explore` runs)
  worker    one worker: run trials until the study has `trials` finished ones; start more
            of these, here or on other machines, against the same --storage URL
  frontier  write explore/<study>/frontier.csv and .png from the study as it stands
  promote   write a trial's model config as configs/models/<name>.yaml

Options default to params.yaml's `explore` section.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline.config import Params, load_params
from pipeline.errors import PipelineError, run_stage

COMMANDS = ("run", "worker", "frontier", "promote")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.explore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--root", default=Path("."), type=Path,
                        help="project root: explore/ and the MLflow store")
    parser.add_argument("--data", default="data/dataset", type=Path)
    parser.add_argument("--study", help="default: explore.study")
    parser.add_argument("--storage", help="SQLAlchemy URL; default: explore.storage, else "
                                          "sqlite:///explore/optuna.db under --root")
    parser.add_argument("--trials", type=int, help="default: explore.trials")
    parser.add_argument("--workers", type=int, help="default: explore.workers")
    parser.add_argument("--epochs", type=int, help="train.epochs of every trial (a quick "
                                                   "look); default: explore.epochs")
    parser.add_argument("--seed", type=int, default=0, help="worker: its sampler's seed is "
                                                            "params.yaml's seed plus this")
    parser.add_argument("--trial", type=int, help="promote: the trial")
    parser.add_argument("--name", help="promote: the model config's name")
    parser.add_argument("--models-dir", default="configs/models", type=Path,
                        help="the model configs: explore.baselines, promote's output")
    return parser.parse_args()


def settings(args: argparse.Namespace) -> tuple[Params, str]:
    """params.yaml with the command line's explore settings, validated; the storage URL."""
    from pipeline.config.files import describe
    from pipeline.explore.study import default_storage

    params = load_params(args.params)
    given = {key: getattr(args, key) for key in ("study", "storage", "trials", "workers",
                                                 "epochs") if getattr(args, key) is not None}
    try:
        explore = type(params.explore).model_validate({**params.explore.model_dump(), **given})
    except ValueError as err:
        raise PipelineError(f"command line: {describe(err)}") from None
    return (params.model_copy(update={"explore": explore}),
            explore.storage or default_storage(args.root))


def forwarded(args: argparse.Namespace, url: str, params: Params) -> list[str]:
    explore = params.explore
    return ["--params", str(args.params), "--root", str(args.root), "--data", str(args.data),
            "--models-dir", str(args.models_dir), "--study", explore.study, "--storage", url,
            "--trials", str(explore.trials),
            *(["--epochs", str(explore.epochs)] if explore.epochs else [])]


def run_workers(args: argparse.Namespace, params: Params, url: str) -> None:
    """`workers` copies of the worker command, each its own sampler seed; SIGTERM or SIGINT
    reaches them all (each fails its trial and exits)."""
    command = [sys.executable, "-m", "pipeline.explore", "worker", *forwarded(args, url, params)]
    workers = [subprocess.Popen([*command, "--seed", str(index)])
               for index in range(params.explore.workers)]
    try:
        codes = [worker.wait() for worker in workers]
    except BaseException:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait()
        raise
    failed = [code for code in codes if code != 0]
    if failed:
        raise PipelineError(f"{len(failed)} of {len(codes)} workers failed (exit status "
                            f"{', '.join(map(str, failed))}); rerun to continue the study")


def main() -> None:
    args = arguments()
    params, url = settings(args)
    import optuna

    from pipeline.explore import frontier, study

    # Errors only: a trial stopped by SIGTERM or Ctrl-C is not worth Optuna's traceback;
    # the worker's progress lines say what each trial did.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    explore = params.explore
    if args.command == "promote":
        if args.trial is None or args.name is None:
            raise PipelineError("promote needs --trial N and --name <model name>")
        found = optuna.load_study(study_name=explore.study,
                                  storage=study.storage(url, explore.heartbeat_seconds))
        path = frontier.promote(found, args.trial, args.models_dir, args.name)
        print(f"explore: trial {args.trial} of {explore.study} written to {path}; add "
              f"{args.name} to params.yaml's models to build it")
        return
    queued = baselines(params, args.models_dir) if args.command in ("run", "worker") else {}
    shared = study.open_study(explore, url, params.seed + args.seed)
    study.enqueue_baselines(shared, queued)
    if args.command == "worker":
        work(args, params, shared)
        return
    if args.command == "run":
        print(f"explore: study {explore.study} in {url}: {study.finished(shared)} of "
              f"{explore.trials} trials finished; {explore.workers} workers", flush=True)
        if study.finished(shared) < explore.trials:
            run_workers(args, params, url)
    rows = frontier.write_frontier(shared, args.root, params)
    folder = args.root / "explore" / explore.study
    print(f"explore: {len(rows)} Pareto-optimal of {study.finished(shared)} finished trials: "
          f"{folder / 'frontier.csv'}, {folder / 'frontier.png'}")
    for row in rows:
        named = f" ({row.baseline})" if row.baseline else ""
        print(f"  trial {row.trial}{named}: {row.scheme}, esr_corners {row.esr_corners:.4f}, "
              f"{row.ecp5_lut4:,} LUT4, {row.ecp5_mult18} MULT18X18D, {row.sample_rate_hz:g} Hz")


def baselines(params: Params, models_dir: Path) -> dict[str, dict[str, object]]:
    """explore.baselines as trial choices, each folded for hls.target_sample_rate_hz."""
    from pipeline.config import load_model_config
    from pipeline.explore.space import Refused, choices_of

    found = {}
    for name in params.explore.baselines:
        config = load_model_config(models_dir / f"{name}.yaml")
        try:
            found[name] = choices_of(config, params.hls.target_sample_rate_hz,
                                     params.explore.space, params)
        except Refused as refused:
            raise PipelineError(f"params.yaml explore.baselines: {refused}") from None
    return found


def work(args: argparse.Namespace, params: Params, shared) -> None:
    """Trials until the study has `trials` finished ones."""
    import socket

    from optuna.study import MaxTrialsCallback

    from pipeline.explore.study import UNDER_WAY, finished

    explore = params.explore
    if finished(shared) >= explore.trials:
        print(f"explore: {explore.study} has its {explore.trials} trials", flush=True)
        return
    from pipeline.data.dataset import load_split
    from pipeline.data.shapes import SPLITS
    from pipeline.explore.trial import Splits, objective  # TensorFlow loads here

    splits = Splits(*(load_split(args.data, split) for split in SPLITS))
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        shared.optimize(objective(params, splits, args.root, worker),
                        callbacks=[MaxTrialsCallback(explore.trials, states=UNDER_WAY)],
                        gc_after_trial=True)
    except KeyboardInterrupt as stop:  # the objective's Interrupted, its trial failed
        if stop.__cause__ is not None:
            raise stop.__cause__ from None
        raise


if __name__ == "__main__":
    run_stage(main)
