"""The study: Optuna's storage, sampler and the objectives every worker shares.

Three objectives, all minimised: the test split's `esr_corners`, ECP5 LUT4 and ECP5
MULT18X18D after yosys. The placed design's Fmax must reach the clock (nextpnr): a trial
that misses it is infeasible, kept in the study but never on the frontier.

The storage is an SQLAlchemy URL. The default is an SQLite file under `explore/`, which the
workers of one machine share; a PostgreSQL or MySQL URL lets workers on several machines
join one study. Workers beat a heartbeat into it: a worker killed outright (kill -9, power)
stops beating, and the next worker to start a trial marks that trial FAIL and queues its
design again once (`RetryHeartbeatStaleTrialCallback`), so no trial is lost or counted twice.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from pipeline.config import ExploreConfig

# The heartbeat, its retry callback and TPE's constraints are marked experimental since
# Optuna 2.x-3.x; they are what a study shared by killable workers needs.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

OBJECTIVES = ("esr_corners", "ecp5_lut4", "ecp5_mult18")
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
"""Trials that count towards `trials`: a refused design is a finished answer too; a failed
one is not (its retry is)."""
UNDER_WAY = (*DONE, TrialState.RUNNING)
"""What a worker counts before it starts another trial: the others' running trials too, so
that workers side by side do not overshoot `trials`."""
SAME_AS = "same_design_as"
"""User attribute: the earlier trial whose design (and so whose figures) this one repeats."""
BASELINE = "baseline"
"""User attribute: the model config (configs/models/) a queued baseline trial builds."""
CONSTRAINT = "fmax_shortfall_mhz"
"""User attribute: the clock minus nextpnr's Fmax; feasible at <= 0 (Optuna's convention)."""


def default_storage(root: Path) -> str:
    return f"sqlite:///{(root / 'explore' / 'optuna.db').resolve()}"


def trial_config_path(root: Path, study: str, number: int) -> Path:
    """Trial `number`'s model config; its folder holds the trial's RTL and reports too."""
    return root / "explore" / study / f"trial_{number}" / f"trial_{number}.yaml"


def storage(url: str, heartbeat_seconds: int) -> RDBStorage:
    """The shared storage, with a heartbeat so a dead worker's trial is failed and
    retried."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return RDBStorage(url, heartbeat_interval=heartbeat_seconds,
                      grace_period=3 * heartbeat_seconds,
                      heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                      engine_kwargs={"connect_args": {"timeout": 60}}
                      if url.startswith("sqlite") else None)


def constraints(trial: FrozenTrial) -> list[float]:
    """Optuna's constraint values: Fmax must reach the clock."""
    return [trial.user_attrs.get(CONSTRAINT, 0.0)]


def open_study(config: ExploreConfig, url: str, seed: int) -> optuna.Study:
    """The study `config.study` in `url`, created on first use, its dead workers' trials
    failed (and queued again). The sampler (multi-objective
    TPE with the Fmax constraint) is seeded by `seed`: give each worker its own."""
    sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
    study = optuna.create_study(study_name=config.study, storage=storage(
        url, config.heartbeat_seconds), sampler=sampler, directions=["minimize"] * 3,
        load_if_exists=True)
    # A dead worker's trial fails now, not only when the next trial starts: rerunning a
    # study that has its trials still settles it.
    optuna.storages.fail_stale_trials(study)
    return study


def enqueue_baselines(study: optuna.Study, baselines: dict[str, dict[str, object]]) -> None:
    """Queue each baseline's choices as a trial, once: the next workers to ask run them
    first. A design already in the study (queued, run or sampled) is not queued again."""
    for name, choices in baselines.items():
        study.enqueue_trial(choices, user_attrs={BASELINE: name}, skip_if_exists=True)


def finished(study: optuna.Study) -> int:
    """Trials that count towards the study's `trials`."""
    return len(study.get_trials(deepcopy=False, states=DONE))
