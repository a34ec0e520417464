"""The frontier search: its space, its frontier, and workers sharing one study through a
storage URL, one of them killed outright mid-trial."""

import os
import re
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import CategoricalDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState, create_trial

from pipeline.config import SearchSpace, load_model_config, load_params
from pipeline.data.dataset import write_dataset
from pipeline.data.synth import synthesize
from pipeline.errors import ConfigError
from pipeline.explore import frontier
from pipeline.explore.space import Refused, choices_of, dilations, sample
from pipeline.explore.study import BASELINE, CONSTRAINT, DONE, enqueue_baselines
from pipeline.explore.trial import objective, same_design
from tests.conftest import ROOT, small_params, write_yaml

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def asked(seed: int, count: int):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                directions=["minimize"] * 3)
    for _ in range(count):
        yield study.ask()


def test_every_sampled_design_is_a_valid_config_that_round_trips(tmp_path):
    params = load_params(ROOT / "params.yaml")
    schemes = set()
    for trial in asked(1, 60):
        candidate = sample(trial, params.explore.space, params)
        path = tmp_path / f"{candidate.config.name}.yaml"
        path.write_text(candidate.config_yaml())
        assert load_model_config(path) == candidate.config
        assert candidate.sample_rate_hz in params.explore.space.sample_rates_hz
        schemes.add(candidate.config.scheme)
    assert schemes == {"fixed", "po2"}


def test_dilations_double_every_layer_or_every_two_up_to_the_largest():
    assert dilations(8, "every_layer", 8) == [1, 2, 4, 8, 8, 8, 8, 8]
    assert dilations(7, "every_two_layers", 8) == [1, 1, 2, 2, 4, 4, 8]  # fixed16_k3x7's
    assert dilations(3, "every_layer", 1) == [1, 1, 1]


@pytest.mark.parametrize(("space", "reason"), [
    ({"schemes": ["po2"], "po2_bits": [16]}, r"model config: layers\.\d+\.kernel_quantizer: "
                                              r"quantized_po2 with 16 bits needs \d+ "
                                              r"accumulator bits"),
    ({"sample_rates_hz": [60e6]}, r"fold: 6e\+07 samples/s at a 100 MHz clock leaves 1 "
                                  r"clocks per sample"),
    ({"layers": [8, 8], "kernel_sizes": [3], "dilation_growth": ["every_layer"],
      "max_dilation": 128},
     r"params\.yaml data\.synth\.segment_seconds: .* shorter than a training window"),
])
def test_a_design_the_project_cannot_build_is_pruned_in_one_line(tmp_path, capsys, space,
                                                                 reason):
    params = load_params(write_yaml(tmp_path / "params.yaml", small_params()))
    params = params.model_copy(update={"explore": params.explore.model_copy(
        update={"space": SearchSpace(**space)})})
    for trial in asked(2, 5):
        with pytest.raises(Refused, match=rf"^{reason}") as refused:
            sample(trial, params.explore.space, params)
        assert "\n" not in str(refused.value)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2),
                                directions=["minimize"] * 3)
    # Every design is refused before the objective reads the data splits.
    study.optimize(objective(params, None, tmp_path, "w"), n_trials=5)
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 5
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    for number, line in enumerate(lines):
        assert re.match(rf"trial {number}: {reason}.* \(pruned\)$", line), line


@pytest.mark.parametrize("name", ["fixed16_k3x7", "po2_k3x7w12"])
def test_a_baseline_is_queued_once_and_its_trial_builds_its_model(name):
    """The shipped defaults are designs of the shipped space: a study's first trials."""
    params = load_params(ROOT / "params.yaml")
    config = load_model_config(ROOT / "configs" / "models" / f"{name}.yaml")
    choices = choices_of(config, 96000.0, params.explore.space, params)
    study = optuna.create_study(directions=["minimize"] * 3)
    for _ in range(2):  # a second worker opening the study queues nothing more
        enqueue_baselines(study, {name: choices})
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1
    trial = study.ask()
    built = sample(trial, params.explore.space, params)
    assert trial.user_attrs[BASELINE] == name and built.sample_rate_hz == 96000.0
    assert built.config.layers == config.layers
    assert built.config.model_dump(exclude={"name", "description"}) == config.model_dump(
        exclude={"name", "description"})


@pytest.mark.parametrize(("name", "space", "rate", "reason"), [
    ("fixed16", {}, 192e3,
     r"outside the search space \(kernel_size 4 is not one of explore\.space\.kernel_sizes "
     r"\[2, 3\]\)"),
    ("fixed16_k3x7", {"layers": [3, 6]}, 192e3,
     r"outside the search space \(7 convolutions, explore\.space\.layers is \[3, 6\]\)"),
    ("fixed16_k3x7", {"max_dilation": 4}, 192e3,
     r"outside the search space \(layers: not as the space builds them"),
    ("fixed16_k3x7", {"sample_rates_hz": [60e6]}, 60e6,
     r"fold: 6e\+07 samples/s at a 100 MHz clock leaves 1 clocks per sample"),
])
def test_a_baseline_the_study_cannot_hold_is_refused_in_one_line(name, space, rate, reason):
    params = load_params(ROOT / "params.yaml")
    config = load_model_config(ROOT / "configs" / "models" / f"{name}.yaml")
    with pytest.raises(Refused, match=rf"^{name}: {reason}") as refused:
        choices_of(config, rate, SearchSpace(**space), params)
    assert "\n" not in str(refused.value)


def test_pareto_keeps_exactly_the_undominated_points_as_optuna_does():
    points = [(1.0, 10.0, 2.0), (2.0, 20.0, 2.0), (0.5, 30.0, 4.0), (1.0, 10.0, 2.0),
              (1.0, 10.0, 3.0), (3.0, 5.0, 9.0)]
    assert frontier.pareto(points) == [0, 2, 3, 5]
    study = optuna.create_study(directions=["minimize"] * 3)
    for point in points:
        study.add_trial(create_trial(values=list(point)))
    assert sorted(t.number for t in study.best_trials) == [0, 2, 3, 5]


RATE = CategoricalDistribution([48000.0, 96000.0])


def finished_trial(values, shortfall, scheme="fixed", state=TrialState.COMPLETE, **attrs):
    return create_trial(state=state, values=values if state == TrialState.COMPLETE else None,
                        params={"sample_rate_hz": 48000.0}, distributions={"sample_rate_hz": RATE},
                        user_attrs={"scheme": scheme, CONSTRAINT: shortfall, "esr_edges": 0.5,
                                    "ecp5_fmax_mhz": 100.0 - shortfall,
                                    "config": "description: x\n", **attrs})


def test_the_frontier_holds_completed_trials_that_meet_timing_and_no_dominated_one(tmp_path):
    study = optuna.create_study(study_name="s", directions=["minimize"] * 3)
    for trial in (finished_trial([0.02, 900, 4], -10.0, baseline="b"),  # 0: on the frontier
                  finished_trial([0.01, 800, 3], 5.0, "po2"),      # 1: misses the clock
                  finished_trial([0.03, 1000, 4], -1.0),           # 2: dominated by 0
                  finished_trial([0.05, 400, 2], 0.0, "po2"),      # 3: on it (Fmax = clock)
                  finished_trial([0.05, 400, 2], 0.0, "po2", same_design_as=3),  # 3 again
                  finished_trial(None, 0.0, state=TrialState.PRUNED),
                  finished_trial(None, 0.0, state=TrialState.FAIL)):
        study.add_trial(trial)
    rows = frontier.frontier(study, tmp_path)
    assert [(row.trial, row.scheme) for row in rows] == [(0, "fixed"), (3, "po2")]  # not 4
    assert rows[0].config == "explore/s/trial_0/trial_0.yaml"
    written = frontier.write_frontier(study, tmp_path, load_params(ROOT / "params.yaml"))
    assert written == rows
    lines = (tmp_path / "explore" / "s" / "frontier.csv").read_text().splitlines()
    assert lines[0] == ("trial,scheme,esr_corners,esr_edges,ecp5_lut4,ecp5_mult18,"
                        "ecp5_fmax_mhz,sample_rate_hz,config,baseline")
    assert lines[1:] == ["0,fixed,0.02,0.5,900,4,110,48000,explore/s/trial_0/trial_0.yaml,b",
                         "3,po2,0.05,0.5,400,2,100,48000,explore/s/trial_3/trial_3.yaml,"]
    assert (tmp_path / "explore" / "s" / "frontier.png").stat().st_size > 0


def test_a_design_asked_again_is_found_not_trained_again():
    study = optuna.create_study(directions=["minimize"] * 3)
    study.add_trial(finished_trial([0.02, 900, 4], -1.0))
    study.add_trial(finished_trial([0.03, 900, 4], -1.0, same_design_as=0))
    for rate in (48000.0, 96000.0):
        study.enqueue_trial({"sample_rate_hz": rate})
    again, other = study.ask(), study.ask()
    for trial in (again, other):
        trial.suggest_categorical("sample_rate_hz", RATE.choices)
    assert same_design(again).number == 0  # the trained one, not its repeat
    assert same_design(other) is None


def test_promote_writes_a_trials_config_and_refuses_what_it_cannot(tmp_path):
    config = (ROOT / "configs" / "models" / "fixed16_k3x7.yaml").read_text()
    study = optuna.create_study(directions=["minimize"] * 3)
    study.add_trial(finished_trial([0.02, 900, 4], -1.0, config=config))
    study.add_trial(finished_trial(None, 0.0, state=TrialState.PRUNED))
    path = frontier.promote(study, 0, tmp_path, "found")
    assert path == tmp_path / "found.yaml"
    assert load_model_config(path).layers == load_model_config(
        ROOT / "configs" / "models" / "fixed16_k3x7.yaml").layers
    with pytest.raises(ConfigError, match=r"found\.yaml: already exists"):
        frontier.promote(study, 0, tmp_path, "found")
    with pytest.raises(ConfigError, match=r"trial 1 did not complete \(completed trials: 0\)"):
        frontier.promote(study, 1, tmp_path, "other")


def test_a_baseline_outside_the_space_stops_the_search_before_the_study(tmp_path):
    params = small_params()
    params["explore"]["baselines"] = ["fixed16_k3x7", "fixed16"]
    result = subprocess.run([sys.executable, "-m", "pipeline.explore", "run", "--params",
                             str(write_yaml(tmp_path / "params.yaml", params)), "--root",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: params.yaml explore.baselines: fixed16: outside the search space (kernel_size "
        "4 is not one of explore.space.kernel_sizes [2, 3])")
    assert not (tmp_path / "explore").exists()


def test_a_bad_command_line_setting_is_one_line_naming_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline.explore", "run", "--trials", "0",
                             "--params", str(ROOT / "params.yaml"), "--root", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: command line: trials: Input should be greater "
                                     "than or equal to 1 (got 0)")


def running_trial_of(url: str, study: str, pid: int, timeout: float = 240):
    """Wait until process `pid` has a trial under way in the study, its design chosen;
    return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name=study, storage=url).get_trials()
        except KeyError:  # not created yet
            trials = []
        for trial in trials:
            if (trial.state == TrialState.RUNNING and "config" in trial.user_attrs
                    and trial.user_attrs["worker"].endswith(f":{pid}")):
                return trial
        time.sleep(0.5)
    raise AssertionError(f"process {pid} started no trial in {timeout} s")


def test_workers_share_one_study_and_a_killed_workers_trial_fails_once(tmp_path):
    """Two worker processes started separately against one storage URL (the multi-machine
    path, on one machine); one is killed with SIGKILL mid-trial; a third, started after,
    fails the dead worker's trial and the study ends with its trials, none lost or
    counted twice."""
    params = small_params(**{"data.synth.segment_seconds": 0.05})
    params["explore"] = {"study": "shared", "trials": 2, "epochs": 1, "heartbeat_seconds": 1,
                         "space": {"schemes": ["fixed"], "layers": [2, 2], "filters": [2, 3],
                                   "kernel_sizes": [2], "sample_rates_hz": [48000.0]}}
    params_file = write_yaml(tmp_path / "params.yaml", params)
    loaded = load_params(params_file)
    write_dataset(tmp_path / "dataset", synthesize(loaded.data.synth, 48_000, loaded.seed))
    url = f"sqlite:///{tmp_path}/optuna.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    worker = [sys.executable, "-m", "pipeline.explore", "worker", "--params", str(params_file),
              "--root", str(tmp_path), "--data", str(tmp_path / "dataset"), "--storage", url]

    def start(seed: int) -> subprocess.Popen:
        return subprocess.Popen([*worker, "--seed", str(seed)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    victim, other = start(0), start(1)
    killed = running_trial_of(url, "shared", victim.pid)
    victim.kill()
    victim.wait()
    output, _ = other.communicate(timeout=600)
    assert other.returncode == 0, output
    resumed = subprocess.run([*worker, "--seed", "2"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [killed.number]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    done = [t for t in trials if t.state in DONE]
    assert len(done) >= 2
    assert {f":{victim.pid}", f":{other.pid}"} <= {
        t.user_attrs["worker"][t.user_attrs["worker"].index(":"):] for t in trials}
    retries = [t for t in trials
               if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params  # queued once, same design

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(loaded.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.study = 'shared'")
    logged = sorted(int(run.data.tags["trial"]) for run in runs)
    assert logged == sorted(t.number for t in done if t.state == TrialState.COMPLETE)
    assert all(run.data.tags["kind"] == "design" for run in runs)

    result = subprocess.run([sys.executable, "-m", "pipeline.explore", "frontier", "--params",
                             str(params_file), "--root", str(tmp_path), "--storage", url],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "explore" / "shared" / "frontier.csv").read_text().splitlines()[1:]
    assert rows and {int(row.split(",")[0]) for row in rows} <= set(logged)
