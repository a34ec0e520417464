"""The validation figures: log-spectral distance and its floor, the sweep, the parallel C
simulation and the comparison of three implementations."""

import numpy as np
import pytest

from pipeline.config import SweepConfig, ValidationConfig, load_params
from pipeline.data import synth, waveforms
from pipeline.data.dataset import SplitData, load_split, write_dataset
from pipeline.data.shapes import CORNERS
from pipeline.data.synth import synthesize
from pipeline.evaluate.metrics import (
    log_spectral_distance,
    normalized_log_spectrogram,
    power_spectrogram,
    rounding_noise_floor,
)
from pipeline.evaluate.validation import Outputs, compare
from pipeline.fixed.reference import FixedPointReference
from pipeline.hls import convert
from pipeline.train.inference import predict_segments
from tests.conftest import architecture, random_model, small_params, write_yaml

RATE = 48_000


def test_rounding_noise_floor_is_the_mean_bin_power_of_rounding_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200_000)
    lsb = 2.0**-12
    noise = np.round(x / lsb) * lsb - x
    measured = power_spectrogram(noise, 2048, 512).mean()
    assert measured == pytest.approx(rounding_noise_floor(lsb, 2048), rel=0.03)


def test_lsd_is_zero_for_equal_signals_and_grows_with_the_difference():
    rng = np.random.default_rng(1)
    phase = waveforms.oscillator_phase(np.geomspace(100.0, 2000.0, RATE), RATE, 0.0)
    # A model's output: the wave plus its own error, far above the rounding noise.
    clean = waveforms.triangle(phase) + rng.normal(0, 1e-3, RATE)
    floor = 10 * rounding_noise_floor(2.0**-12, 2048)
    assert log_spectral_distance([clean], [clean], 2048, 512, floor) == 0.0
    rounded = np.round(clean * 2**12) / 2**12
    noisy = clean + rng.normal(0, 0.01, len(clean))
    near = log_spectral_distance([clean], [rounded], 2048, 512, floor)
    far = log_spectral_distance([clean], [noisy], 2048, 512, floor)
    unfloored = log_spectral_distance([clean], [rounded], 2048, 512, 1e-30)
    assert 0 < near < 0.01 < far
    assert unfloored > near  # without a floor, the rounding noise itself is measured


def test_log_spectra_are_normalised_frame_by_frame_across_frequency():
    power = np.array([[1e-3, 10.0, 1.0], [1e4, 1e2, 1.0]])
    normalised = normalized_log_spectrogram(power, floor=1e-6)
    assert np.abs(normalised).max(axis=1) == pytest.approx([1.0, 1.0])
    assert normalised[0] == pytest.approx(np.log([1e-3, 10.0, 1.0]) / np.log(1e3))


def test_the_sweep_goes_round_the_border_from_corner_to_corner():
    config = SweepConfig(seconds=1.0, frequency_range_hz=[50.0, 800.0])
    sweep = synth.sweep(config, RATE, "polyblep")
    again = synth.sweep(config, RATE, "polyblep")
    assert np.array_equal(sweep.inputs, again.inputs)
    assert sweep.inputs.shape == (RATE, 3) and sweep.target.shape == (RATE,)
    assert sweep.frequency_hz[0] == 50.0 and sweep.frequency_hz[-1] == pytest.approx(800.0)
    quarter = RATE // 4
    for index, corner in enumerate(("sine", "ramp", "square", "zigzag")):
        assert tuple(sweep.inputs[index * quarter, 1:]) == CORNERS[corner]
    # The embedding moves one sample's worth at a time: no jumps along the path.
    assert np.abs(np.diff(sweep.inputs[:, 1:], axis=0)).max() < 1e-3
    # At the corners the target is that corner's shape.
    phase = waveforms.oscillator_phase(sweep.frequency_hz, RATE, 0.0)
    dt = sweep.frequency_hz / RATE
    square = waveforms.square(phase, dt, "polyblep")
    assert sweep.target[2 * quarter] == pytest.approx(square[2 * quarter])
    assert np.array_equal(sweep.inputs[:, 0], waveforms.triangle(phase).astype(np.float32))


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> SplitData:
    """A small synthesised test split (16 segments of 2,400 samples) with its manifest."""
    folder = tmp_path_factory.mktemp("split")
    params = load_params(write_yaml(folder / "params.yaml", small_params()))
    write_dataset(folder / "ds", synthesize(params.data.synth, RATE, params.seed))
    return load_split(folder / "ds", "test")


@pytest.fixture(scope="module")
def tiny_design(tmp_path_factory):
    """A small model with seeded random weights and its HLS project."""
    folder = tmp_path_factory.mktemp("design")
    model = random_model(architecture("tiny_po2_pair", folder), seed=3)
    return model, convert(model, folder / "project")


def test_parallel_c_simulation_equals_one_copy_and_the_reference(tiny_design, split):
    _, hls_model = tiny_design
    test = split
    simulation = hls_model.compile()
    one_by_one = [simulation.run(x) for x in test.inputs]
    side_by_side = simulation.run_all(test.inputs, threads=3)
    reference = FixedPointReference(hls_model.exported)
    for x, first, second in zip(test.inputs, one_by_one, side_by_side, strict=True):
        np.testing.assert_array_equal(first, second)
        np.testing.assert_array_equal(second, reference.run(x))


def test_compare_counts_differing_words_and_scores_each_implementation(tiny_design, split):
    model, hls_model = tiny_design
    test = split
    sweep = synth.sweep(SweepConfig(seconds=0.25), RATE, "polyblep")
    signals = [*test.inputs, sweep.inputs]
    simulation, reference = hls_model.compile(), FixedPointReference(hls_model.exported)
    hls = simulation.run_all(signals, threads=2)
    references = [reference.run(x) for x in signals]
    keras = predict_segments(model, signals)
    lsb = 2.0**-reference.output_frac
    wrong = [y.copy() for y in hls]
    wrong[3][100] += lsb
    wrong[-1][5] -= lsb
    outputs = {"hls": Outputs(wrong[:-1], wrong[-1]), "keras": Outputs(keras[:-1], keras[-1]),
               "reference": Outputs(references[:-1], references[-1])}
    metrics = compare(test, sweep, outputs, skip=5, output_lsb=lsb, config=ValidationConfig())
    assert metrics["hls_vs_reference_mismatches"] == 2
    assert metrics["samples"] == sum(len(x) for x in signals)
    assert 0 < metrics["hls_vs_keras_mse"] < 1e-6
    for prefix in ("", "keras_", "reference_"):
        assert np.isfinite(metrics[f"{prefix}esr_corners"])
        assert np.isfinite(metrics[f"{prefix}esr_sweep"])
    assert metrics["esr_sine"] != metrics["keras_esr_sine"]
