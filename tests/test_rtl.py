"""The RTL design (pipeline/rtl): its compiled CXXRTL simulation against the fixed-point
reference word for word on small models and several folds, start-of-stream flags in
mid-stream, handshakes under stalls, each layer's interval against its fold, the
requantizer against `requantize`, a yosys synthesis's multipliers against the fold's lanes,
the stages, and refusals."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator
from qkeras import QActivation, quantized_bits, quantized_po2, quantized_relu

from pipeline.config import HlsConfig, HlsLayerConfig, load_model_config, load_params
from pipeline.data.dataset import write_dataset
from pipeline.data.synth import synthesize as synthesize_data
from pipeline.errors import ConfigError
from pipeline.fixed.folding import fold_for_passes, fold_for_rate, layer_folds
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import write_weights
from pipeline.fixed.words import FixedFormat, requantize
from pipeline.rtl import synthesis
from pipeline.rtl.amaranth_sim import layer_interval, run_network
from pipeline.rtl.arith import Requantizer
from pipeline.rtl.conv import layer_interval as promised_interval
from pipeline.rtl.cxxrtl import CxxrtlSimulation
from pipeline.rtl.figures import comparison_markdown, summary
from pipeline.rtl.generate import write_project
from pipeline.rtl.plan import Requantize, plan_design
from pipeline.rtl.streams import segment_starts
from pipeline.rtl.synthesis import synthesize
from tests.conftest import (
    ROOT,
    architecture,
    chain,
    qconv,
    random_model,
    randomise_biases,
    signals,
    small_params,
    write_yaml,
)

CLOCK_HZ = 1e8
PART = "xc7z020clg400-1"

K2_SEVEN_LAYERS = {
    "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "bias_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "activation": {"type": "quantized_relu", "bits": 10, "integer": 3},
    "layers": [{"filters": 3, "kernel_size": 2, "dilation": 2**k} for k in range(6)]
    + [{"filters": 1, "kernel_size": 2, "dilation": 64}],
}


def two_outputs_model() -> keras.Model:
    """16-bit words, dilation 64, and two output channels."""
    keras.utils.set_random_seed(5)
    sixteen = dict(kernel_quantizer=quantized_bits(16, 3, alpha=1),
                   bias_quantizer=quantized_bits(16, 3, alpha=1))
    return randomise_biases(chain(
        qconv("qconv_0", filters=4, kernel_size=2, **sixteen),
        QActivation(quantized_relu(16, 3), name="qact_0"),
        qconv("qconv_1", filters=2, kernel_size=2, dilation_rate=64, **sixteen)), seed=5)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small exported models: kernel sizes 1 (a po2 pair), 2 and 3, dilations 1 to 64,
    8-bit and 16-bit words, one and two outputs."""
    folder = tmp_path_factory.mktemp("models")
    seven = load_model_config(write_yaml(folder / "k2_seven_layers.yaml", K2_SEVEN_LAYERS))
    return {
        "tiny_po2_pair": from_qkeras(random_model(architecture("tiny_po2_pair", folder), 7)),
        "k3_8bit": from_qkeras(random_model(architecture("k3_8bit", folder), 7)),
        "two_outputs_d64": from_qkeras(two_outputs_model()),
        "k2_seven_layers": from_qkeras(random_model(seven, 7)),
    }


def folds_for(model, choice):
    """'rate': 192 kHz at 100 MHz (the default); an int: that ReuseFactor for every layer."""
    shapes = [(layer.kernel_size * layer.in_channels, layer.out_channels)
              for layer in model.layers]
    if choice == "rate":
        return [fold_for_rate(rows, outs, CLOCK_HZ, 192_000) for rows, outs in shapes]
    return [fold_for_passes(rows, outs, choice) for rows, outs in shapes]


def segments(test_split, samples: int = 24_000):
    """Test-split segments, then the start of a glide and of uniform noise."""
    out, total = [], 0
    for x in [*test_split, *(s[:6000] for s in signals())]:
        out.append(x)
        total += len(x)
        if total >= samples:
            break
    return out


@pytest.fixture(scope="module")
def compiled(models, tmp_path_factory):
    """The compiled CXXRTL model of (model name, fold choice), built once per module."""
    built = {}

    def get(name, choice):
        if (name, choice) not in built:
            model = models[name]
            plan = plan_design(model, folds_for(model, choice), CLOCK_HZ)
            folder = tmp_path_factory.mktemp(f"{name}_{choice}")
            project = write_project(plan, FixedPointReference(model), folder / "p", PART)
            built[name, choice] = (CxxrtlSimulation(project), plan)
        return built[name, choice]

    return get


def simulate_segments(compiled, name, choice, model, xs, **stalls):
    """The segments back to back through the compiled design, a start-of-stream flag on
    each one's first sample. Returns the run (output words, their flags, figures), the
    input flags and the plan."""
    simulation, plan = compiled(name, choice)
    words = np.concatenate([model.input_format.words(x) for x in xs])
    firsts = segment_starts([len(x) for x in xs])
    return simulation.run(words, firsts, **stalls), firsts, plan


def expected_words(model, xs):
    reference = FixedPointReference(model)
    return np.concatenate([reference.run_words(x)[-1] for x in xs])


CASES = [("tiny_po2_pair", "rate"), ("tiny_po2_pair", 3), ("k3_8bit", "rate"),
         ("k3_8bit", 5), ("two_outputs_d64", "rate"), ("two_outputs_d64", 1),
         ("k2_seven_layers", "rate")]
"""(model, fold): 'rate' is the default fold (one lane per layer here), 1 a product unit
per weight, 3 and 5 rows side by side with chunks that start inside a channel."""


@pytest.mark.parametrize(("name", "choice"), CASES)
def test_rtl_equals_the_reference_word_for_word_from_every_start_of_stream(
        name, choice, models, compiled, test_split):
    model = models[name]
    xs = segments(test_split)
    run, firsts, plan = simulate_segments(compiled, name, choice, model, xs)
    expected = expected_words(model, xs)
    assert len(xs) >= 8 and run.words.shape == expected.shape
    np.testing.assert_array_equal(run.words, expected)
    np.testing.assert_array_equal(run.firsts, firsts)  # the flag comes out with its sample
    # Fed at full rate, the design takes a sample every interval of its slowest layer.
    assert run.stats["interval_max"] == max(promised_interval(layer) for layer in plan.layers)
    assert run.stats["interval_max"] <= max(layer.fold.interval for layer in plan.layers)


def test_without_a_flag_the_history_carries_on(models, compiled, test_split):
    model = models["k3_8bit"]
    xs = test_split[:3]
    whole = np.concatenate(xs)
    firsts = np.zeros(len(whole), dtype=np.int64)
    firsts[0] = 1
    run = compiled("k3_8bit", "rate")[0].run(model.input_format.words(whole), firsts)
    expected = FixedPointReference(model).run_words(whole)[-1]
    np.testing.assert_array_equal(run.words, expected)
    # ... and differs from restarting each segment, so the flags above did clear it.
    assert np.any(run.words != expected_words(model, xs))


def test_stalls_on_both_handshakes_change_no_word(models, compiled, test_split):
    model = models["tiny_po2_pair"]
    xs = test_split[:4]
    run, firsts, _ = simulate_segments(compiled, "tiny_po2_pair", 3, model, xs,
                                       source_idle_percent=30, sink_busy_percent=60, seed=3)
    np.testing.assert_array_equal(run.words, expected_words(model, xs))
    np.testing.assert_array_equal(run.firsts, firsts)


@pytest.mark.parametrize(("name", "choice"), [("tiny_po2_pair", "rate"),
                                              ("tiny_po2_pair", 1), ("tiny_po2_pair", 2),
                                              ("k3_8bit", 4), ("two_outputs_d64", "rate")])
def test_each_layer_alone_keeps_within_its_fold_interval(name, choice, models):
    plan = plan_design(models[name], folds_for(models[name], choice), CLOCK_HZ)
    for layer in plan.layers:
        measured = layer_interval(layer)
        assert measured == promised_interval(layer) <= layer.fold.interval, layer.name


def test_amaranth_simulation_of_the_network_with_a_slow_sink(models, test_split):
    model = models["tiny_po2_pair"]
    xs = [test_split[0][:60], test_split[1][:45]]
    plan = plan_design(model, folds_for(model, 2), CLOCK_HZ)
    words = np.concatenate([model.input_format.words(x) for x in xs])
    run = run_network(plan, words, segment_starts([60, 45]), out_ready_pattern=[0, 0, 1])
    np.testing.assert_array_equal(run.words, expected_words(model, xs))


@pytest.mark.parametrize(("acc_bits", "acc_frac", "fmt"), [
    (30, 26, FixedFormat(16, 4, signed=False)),  # fixed16's relu
    (20, 10, FixedFormat(8, 3, signed=True)),
    (12, 3, FixedFormat(8, 3, signed=False)),
    (10, 7, FixedFormat(9, 2, signed=True)),
    (8, 0, FixedFormat(10, 5, signed=True)),  # a left shift: exact, then saturated
])
def test_requantizer_rounds_half_to_even_and_saturates_like_the_reference(acc_bits, acc_frac,
                                                                          fmt):
    rule = Requantize(acc_frac - fmt.frac, fmt.min_word, fmt.max_word)
    dut = Requantizer(acc_bits, signed(fmt.bits) if fmt.signed else unsigned(fmt.bits), rule)
    limit = 1 << (acc_bits - 1)
    rng = np.random.default_rng(acc_bits)
    accs = np.concatenate([rng.integers(-limit, limit, 2000),
                           np.arange(max(-limit, -600), min(limit, 600)), [-limit, limit - 1]])
    got = []

    async def bench(ctx):
        for acc in accs:
            ctx.set(dut.acc, int(acc))
            got.append(ctx.get(dut.word))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(got, requantize(accs, acc_frac, fmt)[0])


def test_the_weight_rom_holds_every_product_once(models):
    model = models["two_outputs_d64"]
    for choice in ("rate", 1, 3):
        for layer in plan_design(model, folds_for(model, choice), CLOCK_HZ).layers:
            table = layer.pass_weights()
            assert np.count_nonzero(table) == np.count_nonzero(layer.kernel)
            assert table.sum() == layer.kernel.sum()
            rows = [row for lane in layer.lanes() for row in lane.rows]
            assert sorted(rows) == sorted((i, j) for i in range(layer.in_channels)
                                          for j in range(layer.kernel_size))


def wide_input_model() -> keras.Model:
    """A linear layer's full-width accumulator (21 bits) into a 16-bit-weight layer: two
    MULT18X18D per product but one DSP48E1 (25 x 18); then po2 shifters and 8-bit lanes."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((None, 3))
    x = QActivation(quantized_bits(14, 0, alpha=1), name="input_q")(inputs)
    x = qconv("qconv_0", filters=4, kernel_size=2,
              kernel_quantizer=quantized_bits(8, 2, alpha=1))(x)
    x = qconv("qconv_1", filters=2, kernel_size=2,
              kernel_quantizer=quantized_bits(16, 4, alpha=1))(x)
    x = QActivation(quantized_relu(8, 3), name="qact_1")(x)
    x = qconv("qconv_2", filters=3, kernel_size=1, kernel_quantizer=quantized_po2(4, 1.0))(x)
    x = QActivation(quantized_relu(8, 3), name="qact_2")(x)
    x = qconv("qconv_3", filters=1, kernel_size=1)(x)
    return randomise_biases(keras.Model(inputs, x), seed=11)


def test_synthesis_maps_the_hard_multipliers_the_fold_promises(tmp_path, monkeypatch):
    model = from_qkeras(wide_input_model())
    plan = plan_design(model, folds_for(model, 3), CLOCK_HZ)
    assert 18 < plan.layers[1].in_word.bits <= 25 and plan.layers[2].po2
    project = write_project(plan, FixedPointReference(model), tmp_path / "p", PART)
    # On a device with 2 multipliers the design does not fit, so it is not placed.
    monkeypatch.setitem(synthesis.ECP5_CAPACITY, "ecp5_mult18", 2)
    result = synthesize(project, tmp_path / "reports", place_and_route=True)
    assert result.metrics["ecp5_fits"] == 0 and "ecp5_fmax_mhz" not in result.metrics
    lanes = [layer.fold.lanes for layer in plan.layers]
    assert lanes == [8, 6, 3, 1]
    assert result.metrics["ecp5_mult18"] == project.design["multipliers"] == 8 + 2 * 6 + 1
    assert result.metrics["xc7_dsp48"] == project.design["xc7_multipliers"] == 8 + 6 + 1
    assert result.metrics["ecp5_lut4"] > 0 and result.metrics["xc7_lut"] > 0
    assert (tmp_path / "reports" / "ecp5.log").exists()


def test_the_same_model_gives_the_same_project_byte_for_byte(models, tmp_path):
    model = models["k3_8bit"]
    plan = plan_design(model, folds_for(model, "rate"), CLOCK_HZ)
    first = write_project(plan, FixedPointReference(model), tmp_path / "a", PART).path
    second = write_project(plan, FixedPointReference(model), tmp_path / "b" / "c", PART).path
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        text = (first / name).read_bytes()
        assert text == (second / name).read_bytes(), name
        assert str(tmp_path).encode() not in text, name


def test_folds_follow_the_config(models):
    model = models["k3_8bit"]
    default = layer_folds(model, HlsConfig())
    assert default == folds_for(model, "rate")
    config = HlsConfig(layers={"qconv_1": HlsLayerConfig(reuse_factor=9),
                               "qconv_2": HlsLayerConfig(target_sample_rate_hz=1e6)})
    folds = layer_folds(model, config)
    assert folds[1].passes <= 9 and folds[1] == fold_for_passes(18, 6, 9)
    assert folds[2] == fold_for_rate(18, 6, CLOCK_HZ, 1e6)
    assert folds[0] == default[0] and folds[3] == default[3]
    with pytest.raises(ConfigError, match=r"^hls.layers: qconv_9 is not a layer of"):
        layer_folds(model, HlsConfig(layers={"qconv_9": HlsLayerConfig(reuse_factor=2)}))
    with pytest.raises(ConfigError, match=r"^hls: layer qconv_0: 2e\+07 samples/s at a "
                                          r"100 MHz clock leaves 5 clocks per sample"):
        layer_folds(model, HlsConfig(target_sample_rate_hz=2e7))


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory):
    """A tiny model's weights and a small dataset, as the stages read them."""
    folder = tmp_path_factory.mktemp("stage")
    # A 500 MHz clock, which the ECP5 does not reach: place and route reports the Fmax.
    params_path = write_yaml(folder / "params.yaml", small_params(**{"hls.clock_period_ns": 2.0}))
    params = load_params(params_path)
    write_dataset(folder / "data", synthesize_data(params.data.synth, params.data.sample_rate,
                                                   params.seed))
    model = random_model(architecture("tiny_po2_pair", folder), 7)
    write_weights(from_qkeras(model), folder / "exports" / "tiny" / "weights.json")
    return folder, params_path


def run_module(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_rtl_and_synth_stages_write_their_metrics(stage_inputs):
    folder, params = stage_inputs
    done = run_module("pipeline.stages.rtl", "tiny", "--params", str(params), "--exports",
                      "exports", "--data", "data", cwd=folder)
    assert done.returncode == 0, done.stderr
    simulated = json.loads((folder / "metrics/rtl/sim/tiny.json").read_text())
    assert simulated["rtl_vs_reference_mismatches"] == 0
    assert simulated["rtl_samples"] == 16 * 2400 + 24_000
    assert simulated["rtl_mid_stream_starts"] == 17 - 2  # two processes, 17 signals
    assert (folder / "rtl_projects/tiny/waveshaper.v").exists()
    done = run_module("pipeline.stages.synth", "tiny", "--params", str(params), cwd=folder)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((folder / "metrics/rtl/tiny.json").read_text())
    for key in ("rtl_vs_reference_mismatches", "rtl_samples", "ecp5_mult18", "ecp5_lut4",
                "ecp5_ff", "ecp5_dp16kd", "ecp5_fmax_mhz", "xc7_dsp48", "xc7_lut", "xc7_ff",
                "cycles_per_sample", "max_sample_rate_hz"):
        assert key in metrics, key
    assert metrics["ecp5_mult18"] == metrics["rtl_multipliers"]
    assert metrics["clock_hz"] == 5e8 and metrics["ecp5_fmax_mhz"] < 500
    assert metrics["ecp5_timing_met"] == 0
    assert metrics["max_sample_rate_hz"] == pytest.approx(
        metrics["ecp5_fmax_mhz"] * 1e6 / metrics["cycles_per_sample"])
    assert (folder / "synth_reports/tiny/pnr_report.json").exists()


def test_rtl_stage_without_weights_is_a_one_line_error(stage_inputs):
    folder, params = stage_inputs
    done = run_module("pipeline.stages.rtl", "missing", "--params", str(params), cwd=folder)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: exports/missing/weights.json: no exported weights "
                                   "(run the export stage first)")



def test_figures_put_the_original_design_beside_ours():
    ours = {"ecp5_mult18": 4, "ecp5_lut4": 1100, "ecp5_trellis_comb": 1300, "ecp5_ff": 700,
            "ecp5_dp16kd": 4, "ecp5_fmax_mhz": 124.4, "cycles_per_sample": 518,
            "rtl_samples": 10, "note": "not a number"}
    table = comparison_markdown({"fixed16": ours, "k3": {**ours, "ecp5_mult18": 2}})
    lines = table.splitlines()
    assert lines[2].startswith("| fixed16 (this design) | 4 | 1,300 | 700 | 4 | 124.4 MHz |")
    assert lines[3].startswith("| fixed16 (original, published) | 134 | 44,647 | 21,081 | 24 |")
    assert lines[4].startswith("| k3 (this design) | 2 |") and len(lines) == 5
    assert summary(ours) == {"rtl_samples": 10.0, "cycles_per_sample": 518.0,
                             "ecp5_mult18": 4.0, "ecp5_lut4": 1100.0,
                             "ecp5_trellis_comb": 1300.0, "ecp5_ff": 700.0,
                             "ecp5_dp16kd": 4.0, "ecp5_fmax_mhz": 124.4}
