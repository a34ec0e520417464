"""The hls4ml hand-off: generated projects, their g++ C simulation against the fixed-point
reference and QKeras, the relocatable csim.sh, per-layer configuration, and refusals."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv1D, quantized_bits, quantized_relu

from pipeline.errors import ConfigError
from pipeline.fixed.equivalence import keras_distance, keras_distance_bound
from pipeline.fixed.ir import ExportError
from pipeline.fixed.reference import FixedPointReference
from pipeline.hls import convert
from pipeline.hls.simulation import run_csim_elsewhere
from tests.conftest import architecture, chain, qconv, random_model, randomise_biases, signals

OUR_SOURCES = ("nnet_cached_conv1d.h", "myproject_test.cpp", "stream_bridge.cpp")


def fixed_length_model() -> tf.keras.Model:
    """Input shape (T, C) with T fixed, two input channels and two output channels."""
    tf.keras.utils.set_random_seed(4)
    inputs = tf.keras.Input((3000, 2))
    x = QActivation(quantized_bits(12, 0, alpha=1), name="input_q")(inputs)
    x = QConv1D(5, 3, dilation_rate=3, padding="causal", name="qconv_0",
                kernel_quantizer=quantized_bits(10, 2, alpha=1),
                bias_quantizer=quantized_bits(10, 2, alpha=1))(x)
    x = QActivation(quantized_relu(10, 2), name="qact_0")(x)
    x = QConv1D(2, 2, dilation_rate=5, padding="causal", name="qconv_1",
                kernel_quantizer=quantized_bits(10, 2, alpha=1),
                bias_quantizer=quantized_bits(10, 2, alpha=1))(x)
    return randomise_biases(tf.keras.Model(inputs, x), seed=4)


ARCHITECTURES = ["fixed16", "po2", "k3_8bit", "tiny_po2_pair", "fixed_length_2ch"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory, test_split):
    """Each architecture with seeded random weights, converted once, its C simulation built."""
    built = {}
    for name in ARCHITECTURES:
        folder = tmp_path_factory.mktemp(name)
        if name == "fixed_length_2ch":
            model = fixed_length_model()
            segments = [x[:, :2] for x in test_split]
        else:
            model = random_model(architecture(name, folder), seed=7)
            segments = test_split
        hls_model = convert(model, folder / "project", testbench_input=segments[:4])
        hls_model.compile()
        built[name] = (model, hls_model, segments)
    return built


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_predict_equals_the_reference_word_for_word_and_qkeras_within_the_bound(name, projects):
    model, hls_model, segments = projects[name]
    reference = FixedPointReference(hls_model.exported)
    signals_in = segments if name == "fixed_length_2ch" else [*segments, *signals()]
    for x in signals_in:
        np.testing.assert_array_equal(hls_model.predict(x), reference.run(x))
    # Against QKeras: the output word's rounding plus QKeras's float32 sums, propagated
    # through the layers (pipeline/fixed/equivalence.py derives both bounds; nothing measured).
    worst = keras_distance_bound(hls_model.exported, input_quantised=True)
    for x in segments:
        hls, keras = hls_model.predict(x), model(x[None], training=False).numpy()[0]
        assert np.all(np.abs(hls - keras) <= keras_distance(reference, x, True))
        assert np.abs(hls - keras).max() <= worst


def test_predict_resets_the_caches_at_the_start(projects):
    _, hls_model, segments = projects["fixed16"]
    first = hls_model.predict(segments[0])
    hls_model.predict(segments[1])
    np.testing.assert_array_equal(hls_model.predict(segments[0]), first)


@pytest.mark.parametrize("name", ["fixed16", "po2"])
def test_csim_sh_reproduces_tb_data_exactly_in_a_moved_copy(name, projects):
    _, hls_model, _ = projects[name]
    project = hls_model.project_dir
    for path in project.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".tcl", ".sh", ".cpp", ".h", ".md"):
            assert str(project.parent) not in path.read_text(), path
    inputs = np.loadtxt(project / "tb_data" / "tb_input_features.dat")
    assert inputs.shape == (4 * 3000, 4)
    assert np.flatnonzero(inputs[:, 0]).tolist() == [0, 3000, 6000, 9000]  # a reset each
    result = run_csim_elsewhere(project)
    assert (result.samples, result.mismatches) == (12_000, 0)


def test_the_testbench_reports_a_wrong_expected_word(projects, tmp_path):
    _, hls_model, _ = projects["tiny_po2_pair"]
    copy = tmp_path / "copy"
    shutil.copytree(hls_model.project_dir, copy)
    expected = copy / "tb_data" / "tb_output_predictions.dat"
    lines = expected.read_text().splitlines()
    lsb = 2.0**-hls_model.exported.output_format.frac  # one LSB of the output word
    lines[5000] = repr(float(lines[5000]) + lsb)
    expected.write_text("\n".join(lines) + "\n")
    assert run_csim_elsewhere(copy).mismatches == 1
    done = subprocess.run(["./csim.sh"], cwd=copy, capture_output=True, text=True)
    assert done.returncode == 1 and "sample 5000 output 0" in done.stderr


def test_our_cpp_has_no_warnings_under_wall_wextra(projects):
    for name in ("fixed16", "po2"):
        warnings = projects[name][1].compile().warnings
        located = re.findall(r"^([^\s:]+):\d+:\d+: warning", warnings, re.M)
        ours = [path for path in located if path.endswith(OUR_SOURCES)]
        assert ours == [], warnings


def test_project_has_part_clock_and_relative_build_script(projects):
    project = projects["fixed16"][1].project_dir
    tcl = (project / "project.tcl").read_text()
    assert 'set part "xc7z020clg400-1"' in tcl and "set clock_period 10.0" in tcl
    build = (project / "build_prj.tcl").read_text()
    assert "add_files -tb ${project_name}_test.cpp" in build and "add_files -tb tb_data" in build
    assert "set_part $part" in build and "create_clock -period $clock_period" in build
    readme = (project / "README.md").read_text()
    assert "vitis_hls -f build_prj.tcl" in readme and "100,000,000 samples per second" in readme
    firmware = (project / "firmware" / "myproject.cpp").read_text()
    assert "nnet::cached_conv1d<" in firmware and "reset[0]" in firmware


def test_reuse_factor_and_precision_from_config(tmp_path, test_split):
    model = random_model(architecture("k3_8bit", tmp_path), seed=7)
    config = {"reuse_factor": 4, "clock_period_ns": 5.0, "backend": "Vivado",
              "layers": {"qconv_1": {"reuse_factor": 2},
                         "qconv_0": {"result": "ap_ufixed<6,3,AP_RND_CONV,AP_SAT>"}}}
    hls_model = convert(model, tmp_path / "project", config, testbench_input=test_split[:1])
    parameters = (hls_model.project_dir / "firmware" / "parameters.h").read_text()
    reuse = re.findall(r"reuse_factor = (\d+);", parameters)
    limits = re.findall(r"multiplier_limit = (\d+);", parameters)
    assert reuse == ["4", "2", "4", "4"]
    exported = hls_model.exported
    nonzero = [int(np.count_nonzero(layer.kernel)) for layer in exported.layers]
    assert [int(n) for n in limits] == [-(-n // int(r)) for n, r in zip(nonzero, reuse,
                                                                        strict=True)]
    assert 'set backend "vivado"' in (hls_model.project_dir / "project.tcl").read_text()
    assert "vivado_hls -f build_prj.tcl" in (hls_model.project_dir / "README.md").read_text()
    assert "ap_ufixed<6,3,AP_RND_CONV,AP_SAT,0> layer3_t" in (
        hls_model.project_dir / "firmware" / "defines.h").read_text()
    # A narrower activation than QKeras's changes the output: the override is in effect.
    x = test_split[0]
    assert np.any(hls_model.predict(x) != FixedPointReference(exported).run(x))


def test_a_signed_result_override_keeps_the_relu(tmp_path, test_split):
    # k3_8bit's first ReLU is ufixed<8,3>: fixed<9,4> holds the same words and negatives too.
    model = random_model(architecture("k3_8bit", tmp_path), seed=7)
    config = {"layers": {"qconv_0": {"result": "ap_fixed<9,4,AP_RND_CONV,AP_SAT>"}}}
    hls_model = convert(model, tmp_path / "project", config, testbench_input=test_split[:1])
    reference = FixedPointReference(hls_model.exported)
    x = test_split[0]
    sums, _ = reference.layers[0].accumulate(reference.input_format.words(x))
    assert np.any(sums < 0)  # the ReLU has work to do in this layer
    np.testing.assert_array_equal(hls_model.predict(x), reference.run(x))


@pytest.mark.parametrize(("layers", "message"), [
    ([qconv(padding="same")], r"^qconv_0: padding 'same' is not supported"),
    ([qconv(padding="valid")], r"^qconv_0: padding 'valid' is not supported"),
    ([qconv(strides=2)], r"^qconv_0: strides \(2,\) are not supported"),
    ([qconv(activation="tanh")], r"^qconv_0: the convolution must be linear"),
    ([qconv(), tf.keras.layers.Activation("tanh", name="act")],
     r"^act: layer Activation is not supported"),
    ([qconv(), QActivation("quantized_tanh(8)", name="qact_0")],
     r"^qact_0: quantiser quantized_tanh is not supported"),
    ([qconv(), tf.keras.layers.Dense(2, name="dense")], r"^dense: layer Dense is not supported"),
])
def test_unsupported_models_are_refused_and_nothing_is_written(layers, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        convert(chain(*layers), tmp_path / "project")
    assert list(tmp_path.iterdir()) == []


def test_bad_hls_config_is_refused(tmp_path):
    model = chain(qconv())
    with pytest.raises(ExportError, match=r"^hls.layers: qconv_9 is not a layer of"):
        convert(model, tmp_path / "a", {"layers": {"qconv_9": {"reuse_factor": 2}}})
    with pytest.raises(ConfigError, match=r"^hls config: reuse_factor: Input should be "
                                          r"greater than or equal to 1"):
        convert(model, tmp_path / "b", {"reuse_factor": 0})
    assert list(tmp_path.iterdir()) == []


def test_the_same_model_gives_the_same_project_byte_for_byte(tmp_path, test_split):
    model = random_model(architecture("tiny_po2_pair", tmp_path), seed=9)
    first = convert(model, tmp_path / "a", testbench_input=test_split[:1]).project_dir
    second = convert(model, tmp_path / "elsewhere" / "b", testbench_input=test_split[:1])
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second.project_dir)
                           for p in second.project_dir.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second.project_dir / name).read_bytes(), name
