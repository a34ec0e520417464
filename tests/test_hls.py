"""The hls4ml hand-off: generated projects, their g++ C simulation through the AXI4-Stream
top against the fixed-point reference and QKeras, start-of-stream flags, folds from the
config, the relocatable csim.sh, per-layer configuration, and refusals."""

import re
import shutil
import subprocess

import keras
import numpy as np
import pytest
from qkeras import QActivation, quantized_bits, quantized_relu

from pipeline.config import load_model_config
from pipeline.errors import ConfigError
from pipeline.fixed.equivalence import keras_distance, keras_distance_bound
from pipeline.fixed.folding import layer_folds
from pipeline.fixed.ir import ExportError
from pipeline.fixed.reference import FixedPointReference
from pipeline.hls import convert
from pipeline.hls.simulation import run_csim_elsewhere
from pipeline.hls.weights import fixed_words
from pipeline.train.layers import CausalQConv1D
from tests.conftest import (
    architecture,
    chain,
    qconv,
    random_model,
    randomise_biases,
    signals,
    write_yaml,
)

OUR_SOURCES = ("nnet_cached_conv1d.h", "nnet_cached_axis.h", "myproject.cpp", "myproject.h",
               "myproject_test.cpp", "stream_bridge.cpp")


def fixed_length_model() -> keras.Model:
    """Input shape (T, C) with T fixed, two input channels and two output channels."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((3000, 2))
    x = QActivation(quantized_bits(12, 0, alpha=1), name="input_q")(inputs)
    x = CausalQConv1D(5, 3, dilation_rate=3, padding="causal", name="qconv_0",
                kernel_quantizer=quantized_bits(10, 2, alpha=1),
                bias_quantizer=quantized_bits(10, 2, alpha=1))(x)
    x = QActivation(quantized_relu(10, 2), name="qact_0")(x)
    x = CausalQConv1D(2, 2, dilation_rate=5, padding="causal", name="qconv_1",
                kernel_quantizer=quantized_bits(10, 2, alpha=1),
                bias_quantizer=quantized_bits(10, 2, alpha=1))(x)
    return randomise_biases(keras.Model(inputs, x), seed=4)


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
def test_a_start_of_stream_flag_in_mid_stream_clears_every_layer(name, projects):
    _, hls_model, segments = projects[name]
    simulation, reference = hls_model.compile(), FixedPointReference(hls_model.exported)
    pieces = [segments[3], segments[0][:700], segments[5]]
    for y, x in zip(simulation.run_stream(pieces), pieces, strict=True):
        np.testing.assert_array_equal(y, reference.run(x))
    # Without a flag the history carries on: the second piece continues the first.
    carried = simulation.run_stream(pieces[:2], flags=[True, False])
    np.testing.assert_array_equal(np.vstack(carried), reference.run(np.vstack(pieces[:2])))
    assert not np.array_equal(carried[1], reference.run(pieces[1]))


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
    assert (result.samples, result.mismatches, result.flag_mismatches) == (12_000, 0, 0)
    cosim = np.loadtxt(project / "tb_data" / "cosim_input_features.dat")
    assert cosim.shape == (2000, 4) and np.flatnonzero(cosim[:, 0]).tolist() == [0, 1000]
    np.testing.assert_array_equal(cosim[1000:], inputs[3000:4000])


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
    assert "cosim_design -trace_level $opt(trace_level)" in build
    options = (project / "build_opt.tcl").read_text()
    assert re.search(r"^\s+trace_level none$", options, re.M)
    assert re.search(r"^\s+cosim_full\s+0$", options, re.M)
    readme = (project / "README.md").read_text()
    assert "vitis_hls -f build_prj.tcl" in readme and "| `s_axis_TUSER` | in | 1 |" in readme
    firmware = (project / "firmware" / "myproject.cpp").read_text()
    assert "hls::stream<input_axis_t> &s_axis, hls::stream<output_axis_t> &m_axis" in firmware
    assert firmware.count("nnet::cached_conv1d<") == 3
    header = (project / "firmware" / "myproject.h").read_text()
    assert "typedef ap_axiu<48, 1, 0, 0> input_axis_t;" in header  # 3 x 16-bit lanes
    assert "typedef ap_axiu<16, 1, 0, 0> output_axis_t;" in header
    # hls4ml's ctypes bridge called its own array-port top: gone with it.
    assert not (project / "myproject_bridge.cpp").exists()
    assert not (project / "build_lib.sh").exists()


K2_DEEP = {  # K=2, 7 layers, dilations 1 .. 64: long delay lines, few rows per layer
    "input_quantizer": {"type": "quantized_bits", "bits": 16, "integer": 0},
    "kernel_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "bias_quantizer": {"type": "quantized_bits", "bits": 10, "integer": 2},
    "activation": {"type": "quantized_relu", "bits": 10, "integer": 3},
    "layers": [*({"filters": 4, "kernel_size": 2, "dilation": 2**i} for i in range(6)),
               {"filters": 1, "kernel_size": 2, "dilation": 64}],
}


def synthesis_view(project) -> str:
    """firmware/myproject.cpp as the synthesis tool reads it: preprocessed with __SYNTHESIS__,
    so that every directive is a `#pragma HLS` line. hls4ml's open-source ap_types refuse
    __SYNTHESIS__ (an #error in ap_common.h); its body is skipped, as -E needs no types."""
    done = subprocess.run(["g++", "-E", "-P", "-std=c++14", "-D__SYNTHESIS__",
                           "-D__AP_COMMON_H__", "-Ifirmware", "-isystem", "firmware/ap_types",
                           "firmware/myproject.cpp"], cwd=project, capture_output=True,
                          text=True, check=True)
    return done.stdout


def function(source: str, name: str) -> str:
    """The definition of `void name(...) {...}` (not a declaration): its parameters and body."""
    definition = re.search(rf"\bvoid {name}\([^;{{]*\)\s*\{{", source)
    start, index, depth = definition.start(), definition.end() - 1, 0
    while True:
        depth += {"{": 1, "}": -1}.get(source[index], 0)
        if depth == 0:
            return source[start:index + 1]
        index += 1


def pragmas(code: str) -> list[str]:
    return re.findall(r"^#pragma HLS (.+?)\s*$", code, re.M)


def check_names(code: str, what: str) -> None:
    """Every variable= and port= of a pragma in `code` names an identifier declared there."""
    plain = re.sub(r"^#pragma.*$", "", code, flags=re.M)
    for pragma in pragmas(code):
        for names in re.findall(r"\b(?:variable|port)=(\S+)", pragma):
            for name in names.split(","):
                assert name == "return" or re.search(rf"\b{name}\b", plain), (what, pragma)


def config_structs(parameters: str) -> dict[str, dict[str, int]]:
    """Each layer's config struct in parameters.h: its static const unsigned members."""
    return {name: {key: int(value) for key, value in
                   re.findall(r"static const unsigned (\w+) = (\d+);", body)}
            for name, body in re.findall(r"struct (config\d+) : nnet::cached_conv1d_config "
                                         r"\{(.*?)\n\};", parameters, re.S)}


@pytest.mark.parametrize("name", ["fixed16", "po2", "k2_deep"])
def test_the_synthesis_view_has_the_schedule_of_every_layer(name, projects, tmp_path,
                                                          test_split):
    """The directives that decide what the tool builds, as it reads them: the top an
    AXI4-Stream DATAFLOW of processes without a block handshake; each layer a process of its
    own (INLINE off) whose pass loop is pipelined at II 1 with nothing else rolled inside it,
    its multipliers limited to its fold's lanes, its weights reshaped to a word per pass."""
    if name == "k2_deep":
        config = load_model_config(write_yaml(tmp_path / "k2_deep.yaml", K2_DEEP))
        hls_model = convert(random_model(config, seed=5), tmp_path / "project",
                            testbench_input=test_split[:1])
        x = test_split[3]
        np.testing.assert_array_equal(hls_model.predict(x),
                                      FixedPointReference(hls_model.exported).run(x))
    else:
        hls_model = projects[name][1]
    project = hls_model.project_dir
    source = synthesis_view(project)
    folds = layer_folds(hls_model.exported, hls_model.config)
    dilations = [layer.dilation for layer in hls_model.exported.layers]
    if name == "k2_deep":
        assert dilations == [1, 2, 4, 8, 16, 32, 64]

    top = function(source, "myproject")
    assert pragmas(top)[:4] == ["INTERFACE axis port=s_axis", "INTERFACE axis port=m_axis",
                                "INTERFACE ap_ctrl_none port=return", "DATAFLOW"]
    streams = re.findall(r"hls::stream<.*?> (\w+)\(", top)
    assert pragmas(top)[4:] == [f"STREAM variable={s} depth=2" for s in streams]
    assert len(streams) == len(folds) + 1
    check_names(top, "top")
    for edge in ("cached_axis_in", "cached_axis_out"):
        code = function(source, edge)
        assert pragmas(code)[0] == "INLINE off"
        check_names(code, edge)

    layer = function(source, "cached_conv1d")
    check_names(layer, "cached_conv1d")
    directives = pragmas(layer)
    assert directives[0] == "INLINE off"
    for expected in ("RESET variable=head", "RESET variable=filled",
                     "ARRAY_PARTITION variable=lines complete dim=1",
                     "ARRAY_RESHAPE variable=weights block factor=CONFIG_T::lanes dim=1",
                     "ARRAY_RESHAPE variable=biases block factor=CONFIG_T::outputs dim=1",
                     "ALLOCATION operation instances=mul limit=CONFIG_T::lanes"):
        assert expected in directives
    # The pass loop: pipelined at II 1, no dependence through the delay lines; every loop
    # inside it (and every other loop of the layer) unrolled.
    loop = re.search(r"passes:\s*for \(unsigned pass = 0; pass < CONFIG_T::passes; pass\+\+\) "
                     r"\{\s*#pragma HLS PIPELINE II=1\s*#pragma HLS DEPENDENCE variable=lines "
                     r"inter false\n", layer)
    assert loop is not None
    assert directives.count("PIPELINE II=1") == 1
    others = re.findall(r"\bfor \([^)]*\) \{\s*#pragma HLS (\w+)", layer)
    assert others.count("PIPELINE") == 1 and len(others) - 1 == others.count("UNROLL") >= 4

    # Per layer: the top calls each layer with its own config, whose fold is the one chosen,
    # and which defines every CONFIG_T member the directives use.
    structs = config_structs((project / "firmware" / "parameters.h").read_text())
    calls = re.findall(r"nnet::cached_conv1d<\w+, \w+, (config\d+)>", top)
    assert calls == list(structs)
    used = set(re.findall(r"CONFIG_T::(\w+)", " ".join(directives)))
    assert used == {"lanes", "outputs"}
    for call, fold, dilation in zip(calls, folds, dilations, strict=True):
        struct = structs[call]
        assert (struct["lanes"], struct["passes"], struct["outputs"], struct["rows"],
                struct["dilation"]) == (fold.lanes, fold.passes, fold.outputs, fold.rows,
                                        dilation)
        assert used <= set(struct)


@pytest.mark.parametrize("name", ["fixed16", "po2"])
def test_c_simulation_sets_the_weights_from_integer_words_synthesis_keeps_the_literals(
        name, projects):
    """C simulation reads each weight array as integer words set at program start (a build
    linear in the model, pipeline/hls/weights.py); synthesis reads hls4ml's definitions."""
    hls_model = projects[name][1]
    project = hls_model.project_dir
    headers = sorted((project / "firmware" / "weights").glob("*.h"))
    assert len(headers) == 2 * len(hls_model.exported.layers)
    for header in headers:
        text = header.read_text()
        assert "#ifdef __SYNTHESIS__" in text, header
        assert f"static const bool {header.stem}_loaded = nnet::cached_load_" in text, header
    source = synthesis_view(project)
    assert "cached_load" not in source
    for header in headers:
        assert f"{header.stem}_words" not in source, header
        assert re.search(rf"\b{header.stem}\[\d+\] = \{{", source), header
    for node in hls_model.graph.get_layers():
        for var in node.get_weights():
            words = fixed_words(var)
            if words is not None:  # every array but po2 kernels: the same values, exactly
                precision = var.type.precision
                np.testing.assert_array_equal(
                    words * 2.0 ** (precision.integer - precision.width),
                    np.asarray(var.data, dtype=np.float64).reshape(-1))


def config_folds(parameters: str) -> list[tuple[int, int]]:
    """(lanes, passes) of each layer's config struct in parameters.h."""
    lanes = re.findall(r"static const unsigned lanes = (\d+);", parameters)
    passes = re.findall(r"static const unsigned passes = (\d+);", parameters)
    return [(int(a), int(b)) for a, b in zip(lanes, passes, strict=True)]


def test_reuse_factor_and_precision_from_config(tmp_path, test_split):
    model = random_model(architecture("k3_8bit", tmp_path), seed=7)
    config = {"reuse_factor": 4, "clock_period_ns": 5.0, "backend": "Vivado",
              "layers": {"qconv_1": {"reuse_factor": 2},
                         "qconv_2": {"target_sample_rate_hz": 48000.0},
                         "qconv_0": {"result": "ap_ufixed<6,3,AP_RND_CONV,AP_SAT>"}}}
    hls_model = convert(model, tmp_path / "project", config, testbench_input=test_split[:1])
    parameters = (hls_model.project_dir / "firmware" / "parameters.h").read_text()
    folds = layer_folds(hls_model.exported, hls_model.config)
    assert config_folds(parameters) == [(fold.lanes, fold.passes) for fold in folds]
    # Per layer beats model-wide: qconv_1 at most 2 passes, qconv_2 from its own rate (200
    # MHz / 48 kHz = 4166 clocks: one multiplier), the rest at most 4 passes.
    assert [fold.passes <= limit for fold, limit in zip(folds, [4, 2, 10**6, 4],
                                                        strict=True)] == [True] * 4
    assert folds[1].passes <= 2 < folds[0].passes and folds[2].lanes == 1
    assert 'set backend "vivado"' in (hls_model.project_dir / "project.tcl").read_text()
    assert "vivado_hls -f build_prj.tcl" in (hls_model.project_dir / "README.md").read_text()
    assert "ap_ufixed<6,3,AP_RND_CONV,AP_SAT,0> layer2_t" in (
        hls_model.project_dir / "firmware" / "defines.h").read_text()
    # A narrower activation than QKeras's changes the output: the override is in effect.
    x = test_split[0]
    assert np.any(hls_model.predict(x) != FixedPointReference(hls_model.exported).run(x))


@pytest.mark.parametrize(("name", "reuse_factor"), [("fixed16", 1), ("po2", 1), ("fixed16", 12),
                                                    ("fixed16", 80), ("po2", 7)])
def test_every_fold_is_bit_exact(name, reuse_factor, tmp_path, test_split):
    """A product unit per weight (ReuseFactor 1: every row side by side, one pass); rows
    side by side that do not divide the layer's rows (fixed16 at 12: 6 row lanes over 64
    rows; po2 at 7: 5 over 32); output lanes that do not divide its outputs (fixed16 at 80:
    3 over 16)."""
    model = random_model(architecture(name, tmp_path), seed=11)
    hls_model = convert(model, tmp_path / "project", {"reuse_factor": reuse_factor},
                        testbench_input=test_split[:1])
    folds = layer_folds(hls_model.exported, hls_model.config)
    assert max(fold.passes for fold in folds) <= reuse_factor
    if reuse_factor == 1:
        assert [fold.lanes for fold in folds] == [layer.multiplies + layer.shift_adds
                                                  for layer in hls_model.exported.layers]
    shapes = {12: (6, 16), 80: (1, 3), 7: (5, 8)}
    if reuse_factor in shapes:
        rows, outputs = shapes[reuse_factor]
        assert any((fold.rows, fold.outputs) == (rows, outputs) for fold in folds)
    reference = FixedPointReference(hls_model.exported)
    pieces = [test_split[2], test_split[7][:500], signals()[1][:3000]]
    for y, x in zip(hls_model.compile().run_stream(pieces), pieces, strict=True):
        np.testing.assert_array_equal(y, reference.run(x))


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
    ([qconv(), keras.layers.Activation("tanh", name="act")],
     r"^act: layer Activation is not supported"),
    ([qconv(), QActivation("quantized_tanh(8)", name="qact_0")],
     r"^qact_0: quantiser quantized_tanh is not supported"),
    ([qconv(), keras.layers.Dense(2, name="dense")], r"^dense: layer Dense is not supported"),
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
