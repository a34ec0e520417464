"""A design run: one model with one set of hardware settings, written whole by the report stage
from the files the hls, validate, rtl and synth stages wrote, so that one run carries the
design's quality, its cost (estimated by the HLS cost model and synthesised from the RTL),
its key params, and its plots and audio at the top level of its artifacts, where MLflow's
compare view sets two runs' files side by side.

Its duration is the wall time the rtl and synth stages recorded (`rtl_seconds`,
`synth_seconds`): the time it took to build the design and measure it. A report run again
over the same files logs no second run (tag `design_key`).

A trial of the frontier search (`pipeline.explore`) logs its design run itself
(`log_trial_design`): the same names, tagged with its `study` and `trial`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.config import ModelConfig, Params
from pipeline.fixed.folding import passes_label
from pipeline.fixed.ir import ExportedModel
from pipeline.tracking import vocabulary
from pipeline.tracking.record import as_params, cost_params, flatten, git_commit, model_params
from pipeline.tracking.store import (
    DESIGN,
    MODEL_HASH_TAG,
    design_run,
    experiment_id,
    file_sha256,
    find_design_run,
    find_model_run,
)

RTL_SECONDS = ("rtl_generate_seconds", "rtl_reference_seconds", "rtl_cxxrtl_yosys_seconds",
               "rtl_cxxrtl_gxx_seconds", "rtl_sim_seconds")
SYNTH_SECONDS = ("ecp5_synth_seconds", "pnr_seconds", "xc7_synth_seconds")


@dataclass(frozen=True)
class DesignFiles:
    """What a design run is made from and carries, for one model."""

    model_file: Path  # models/<m>/model.h5: its sha256 finds the training run
    artifacts: tuple[Path, ...]  # plots, audio, the HLS project's README, logged top level


def design_params(config: ModelConfig, model: ExportedModel, params: Params,
                  passes: list[float]) -> dict[str, object]:
    """The vocabulary's params (`PARAMS`, `DESIGN_PARAMS`), then the hardware settings."""
    hls = params.hls
    return {**model_params(config), **cost_params(model),
            "part": hls.part, "clock_mhz": f"{1000 / hls.clock_period_ns:g}",
            "target_sample_rate_hz": f"{hls.target_sample_rate_hz:g}",
            "reuse_factors": passes_label(passes),
            **flatten("hls", hls.model_dump(mode="json")),
            **flatten("rtl", params.rtl.model_dump(mode="json")),
            **flatten("validation", params.validation.model_dump(mode="json"))}


def design_metrics(validated: dict[str, float], synthesised: dict[str, float]
                   ) -> dict[str, float]:
    """The vocabulary's design metrics found in the validate and synth stages' figures, and
    the wall time of the rtl and synth stages."""
    names = vocabulary.metric_names(DESIGN)
    metrics = {key: float(value) for key, value in {**validated, **synthesised}.items()
               if (key in names or vocabulary.is_restart_metric(key))
               and math.isfinite(float(value))}
    for name, keys in (("rtl_seconds", RTL_SECONDS), ("synth_seconds", SYNTH_SECONDS)):
        found = [float(synthesised[key]) for key in keys if key in synthesised]
        if found:
            metrics[name] = sum(found)
    return metrics


def design_key(params: dict[str, object], metrics: dict[str, float],
               artifacts: tuple[Path, ...], model_digest: str) -> str:
    """sha256 of everything the run is made from: the same files give the same key."""
    digest = hashlib.sha256(json.dumps([model_digest, {k: str(v) for k, v in params.items()},
                                        metrics], sort_keys=True).encode())
    for path in artifacts:
        digest.update(path.name.encode() + file_sha256(path).encode())
    return digest.hexdigest()


def log_design(root: Path, experiment: str, model: str, config: ModelConfig,
               exported: ExportedModel, params: Params,
               figures: dict[str, float | list[float]], synthesised: dict[str, float],
               files: DesignFiles) -> str:
    """The design run of `model` (a new one, or the one already logged from the same files);
    returns its id."""
    found_in = experiment_id(root, experiment)
    values = design_params(config, exported, params, figures["reuse_factors"])
    metrics = design_metrics(figures, synthesised)
    digest = file_sha256(files.model_file) if files.model_file.is_file() else "none"
    key = design_key(values, metrics, files.artifacts, digest)
    existing = find_design_run(found_in, key)
    if existing is not None:
        return existing.info.run_id
    training = find_model_run(found_in, digest)
    tags = {"model": model, MODEL_HASH_TAG: digest, "design_key": key,
            "git_commit": git_commit(root),
            "dvc_experiment": os.environ.get("DVC_EXP_NAME", "workspace")}
    if training is not None:
        tags["training_run_id"] = training.info.run_id
    seconds = metrics.get("rtl_seconds", 0.0) + metrics.get("synth_seconds", 0.0)
    client, now = MlflowClient(), int(time.time() * 1000)
    with design_run(found_in, f"{model} design", tags, seconds) as run_id:
        client.log_batch(run_id, params=as_params(values))
        client.log_batch(run_id, metrics=[Metric(name, value, now, 0)
                                          for name, value in sorted(metrics.items())])
        for path in files.artifacts:
            client.log_artifact(run_id, str(path))
    return run_id


def log_trial_design(root: Path, experiment: str, run_name: str, config: ModelConfig,
                     exported: ExportedModel, params: Params, passes: list[float],
                     quality: dict[str, float], synthesised: dict[str, float],
                     tags: dict[str, str], seconds: float) -> str:
    """A search trial's design run: `params.hls` folded it; `quality` is its QKeras model's
    on the test split, `synthesised` yosys's and nextpnr's figures (no HLS or RTL
    simulation: a trial is judged, not verified). Returns its id."""
    values = {**design_params(config, exported, params, passes),
              "train.epochs": params.train.epochs}
    metrics = design_metrics(quality, synthesised)
    client, now = MlflowClient(), int(time.time() * 1000)
    with design_run(experiment_id(root, experiment), run_name,
                    {"stage": "explore", "model": config.name, "git_commit": git_commit(root),
                     **tags}, seconds) as run_id:
        client.log_batch(run_id, params=as_params(values))
        client.log_batch(run_id, metrics=[Metric(name, value, now, 0)
                                          for name, value in sorted(metrics.items())])
    return run_id
