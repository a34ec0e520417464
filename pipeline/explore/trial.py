"""One trial: the stages' own code on one sampled design, train -> export -> rtl -> synth.

Training is the train stage's (`params.yaml` `train`, one budget for every trial, no float
twin), quality is the QKeras model's test split ESR (the fixed-point reference and the
hardware match it to float32 rounding: docs/validation.md), the integer weights are the
export stage's (`from_qkeras`, the output word sized on the test split), the Verilog is the
rtl stage's folded for the trial's sample rate, and yosys and nextpnr are the synth stage's
(ECP5 only: the objectives' family).
What a trial skips is the word-for-word verification of HLS and RTL: a frontier point that
becomes a default gets it from `dvc repro`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from pipeline.config import Params
from pipeline.data.dataset import SplitData
from pipeline.errors import Interrupted, PipelineError
from pipeline.explore.space import Candidate, Refused, sample
from pipeline.explore.study import (
    BASELINE,
    CONSTRAINT,
    OBJECTIVES,
    SAME_AS,
    finished,
    trial_config_path,
)
from pipeline.fixed.folding import layer_folds
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.output import size_output
from pipeline.fixed.reader import from_qkeras
from pipeline.rtl import flow
from pipeline.train import inference, training

RESULTS = ("epochs", "esr_edges", "esr_heldout_freq", "ecp5_fmax_mhz", "ecp5_trellis_comb",
           "ecp5_ff", "ecp5_dp16kd", "cycles_per_sample", "seconds", "mlflow_run_id")
"""User attributes of a finished trial, beside its objectives, `scheme` and `config`."""


@dataclass(frozen=True)
class Splits:
    train: SplitData
    validation: SplitData
    test: SplitData


def trial_params(params: Params, epochs: int | None, candidate: Candidate) -> Params:
    """params.yaml as the trial runs it: its budget, no float twin, the candidate's fold."""
    train = params.train.model_copy(update={"float_twin": False,
                                            "epochs": epochs or params.train.epochs})
    hls = params.hls.model_copy(update={"target_sample_rate_hz": candidate.sample_rate_hz,
                                        "reuse_factor": None, "layers": {}})
    return params.model_copy(update={"train": train, "hls": hls})


def headline(candidate: Candidate, trial: optuna.Trial) -> str:
    """What the progress line says the design is."""
    config = candidate.config
    baseline = trial.user_attrs.get(BASELINE)
    first = config.layers[0]
    pairs = [layer.factorized_rank for layer in config.layers if layer.factorized_rank]
    po2 = "".join(f" + po2 pair of rank {rank}" for rank in pairs)
    return ((f"baseline {baseline}: " if baseline else "") +
            f"{config.scheme}, {len(config.layers) - len(pairs)} layers of {first.filters} "
            f"filters K={first.kernel_size}{po2}, RF {config.receptive_field}, "
            f"{candidate.sample_rate_hz / 1000:g} kHz")


@dataclass(frozen=True)
class Measured:
    quality: dict[str, float]  # the QKeras model's test split figures
    synthesised: dict[str, float]  # the fold's, yosys's and nextpnr's
    exported: ExportedModel
    passes: list[float]  # each layer's, as the fold built them


def run_design(candidate: Candidate, params: Params, splits: Splits, folder: Path
               ) -> Measured:
    """Train, export, generate and synthesise `candidate` in `folder`."""
    config = candidate.config
    result = training.train(config, params.train, splits.train, splits.validation,
                            params.seed, verbose=False)
    skip = config.receptive_field - 1
    quality = inference.evaluate(result.model, splits.test, skip)
    read = from_qkeras(result.model)
    exported = size_output(read.name, read.input_format, read.layers, splits.test.inputs)
    project, _ = flow.generate(exported, params.hls, folder / "rtl")
    synthesised = {**flow.design_figures(project),
                   **flow.synthesis_figures(project, folder / "synth", True,
                                            params.rtl.pnr_seed, project.design["interval"],
                                            xc7=False)}
    # The interval the fold promises; the rtl stage measures it in simulation.
    synthesised["cycles_per_sample"] = project.design["interval"]
    passes = [float(fold.passes) for fold in layer_folds(exported, params.hls)]
    return Measured(quality, synthesised, exported, passes)


def same_design(trial: optuna.Trial) -> FrozenTrial | None:
    """An earlier completed trial of the same choices. Every trial trains with one seed, so
    its figures are this trial's: samplers propose a good design again, and it is not
    trained twice."""
    return next((done for done in trial.study.get_trials(deepcopy=False,
                                                         states=(TrialState.COMPLETE,))
                 if done.params == trial.params and SAME_AS not in done.user_attrs), None)


def objective(params: Params, splits: Splits, root: Path, worker: str):
    """The study's objective for one worker: (esr_corners, ECP5 LUT4, ECP5 MULT18X18D)."""
    from pipeline.tracking.design import log_trial_design

    config = params.explore
    clock_mhz = 1000 / params.hls.clock_period_ns

    def run(trial: optuna.Trial) -> tuple[float, ...]:
        start = time.perf_counter()
        trial.set_user_attr("worker", worker)
        try:
            candidate = sample(trial, config.space, params)
        except Refused as refused:
            reason = f"trial {trial.number}: {refused}"
            print(f"{reason} (pruned)", flush=True)
            raise optuna.TrialPruned(reason) from None
        earlier = same_design(trial)
        if earlier is not None:  # the sampler asked again: the answer is known
            trial.set_user_attr(SAME_AS, earlier.number)
            for key in ("scheme", "config", CONSTRAINT):
                trial.set_user_attr(key, earlier.user_attrs[key])
            print(f"trial {trial.number} [{worker}]: {headline(candidate, trial)}: the design of "
                  f"trial {earlier.number}, its figures", flush=True)
            return tuple(earlier.values)
        config_path = trial_config_path(root, config.study, trial.number)
        folder = config_path.parent
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        config_path.write_text(candidate.config_yaml())
        trial.set_user_attr("scheme", candidate.config.scheme)
        trial.set_user_attr("config", candidate.config_yaml())
        print(f"trial {trial.number} [{worker}]: {headline(candidate, trial)}: training",
              flush=True)
        run_params = trial_params(params, config.epochs, candidate)
        try:
            measured = run_design(candidate, run_params, splits, folder)
        except PipelineError as refused:  # the export or the fold refuse the trained model
            print(f"trial {trial.number}: {refused} (pruned)", flush=True)
            raise optuna.TrialPruned(f"trial {trial.number}: {refused}") from None
        except Interrupted as stop:  # Optuna fails the trial on KeyboardInterrupt only
            raise KeyboardInterrupt(str(stop)) from stop
        quality, synthesised = measured.quality, measured.synthesised
        fmax = synthesised.get("ecp5_fmax_mhz", 0.0)  # 0: too large to place
        seconds = time.perf_counter() - start
        run_id = log_trial_design(root, params.tracking.experiment,
                                  f"{config.study} trial {trial.number}", candidate.config,
                                  measured.exported, run_params, measured.passes, quality,
                                  synthesised,
                                  {"study": config.study, "trial": str(trial.number)},
                                  seconds)
        figures = {**quality, **synthesised, "seconds": seconds, "mlflow_run_id": run_id,
                   "epochs": run_params.train.epochs}
        for key in RESULTS:
            if key in figures:
                trial.set_user_attr(key, figures[key])
        trial.set_user_attr(CONSTRAINT, clock_mhz - fmax)
        values = tuple(float(figures[name]) for name in OBJECTIVES)
        timing = "met" if fmax >= clock_mhz else "NOT met"
        print(f"trial {trial.number} [{worker}]: esr_corners {values[0]:.4f}, "
              f"{values[1]:,.0f} LUT4, {values[2]:.0f} MULT18X18D, Fmax {fmax:.1f} MHz "
              f"(timing {timing}); {seconds:.0f} s; {finished(trial.study) + 1}/"
              f"{config.trials} finished", flush=True)
        return values

    return run
