"""QKeras models and files from the wild, as a table: each model converts, and its C
simulation equals the fixed-point reference word for word and `model.predict` within the
derived bound (pipeline/fixed/equivalence.py), or it is refused in one line before anything is
written. Also: po2 widths refused by config validation and by the export stage, broken
weight files, and a crashing C simulation that leaves the caller alive."""

import json
import re
import shutil
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import yaml
from qkeras import QActivation, QConv1D, quantized_bits, quantized_po2, quantized_relu

from pipeline.config import load_model_config
from pipeline.errors import ConfigError
from pipeline.fixed.equivalence import keras_distance, keras_distance_bound
from pipeline.fixed.ir import ExportError
from pipeline.fixed.output import output_range
from pipeline.fixed.reader import DEFAULT_INPUT_FORMAT, from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import read_weights, write_weights
from pipeline.fixed.words import FixedFormat
from pipeline.hls import OutputRangeWarning, convert
from pipeline.hls.simulation import CSimulation, SimulationError
from pipeline.train.layers import CausalQConv1D
from tests.conftest import ROOT, randomise_biases, signals, write_yaml

SAMPLES = 12_000


def bits(b, integer):
    return quantized_bits(b, integer, alpha=1)


def stack(*layers, input_q=True, input_shape=(None, 3), seed=0, name="model"):
    """input [-> 16-bit QActivation] -> layers, seeded initial weights and random biases."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    x = QActivation(bits(16, 0), name="input_q")(inputs) if input_q else inputs
    for layer in layers:
        x = layer(x)
    return randomise_biases(keras.Model(inputs, x, name=name), seed)


def conv(name, filters, k, dilation=1, kernel=None, bias=None):
    return CausalQConv1D(filters, k, dilation_rate=dilation, padding="causal", name=name,
                   kernel_quantizer=kernel or bits(12, 2), bias_quantizer=bias or bits(12, 2))


def relu(name, b=12, integer=3):
    return QActivation(quantized_relu(b, integer), name=name)


def dilated(k, dilations, filters=6, **quantisers):
    layers = []
    for i, d in enumerate(dilations):
        last = i == len(dilations) - 1
        layers.append(conv(f"qconv_{i}", 1 if last else filters, k, d, **quantisers))
        if not last:
            layers.append(relu(f"qact_{i}"))
    return layers


def po2_pair(po2_bits, zeros=0.0, max_value=1.0):
    """K=2 conv -> relu -> 1x1 po2 8->16 -> 1x1 po2 16->8 -> relu -> K=2 conv; `zeros`: the
    share of po2 weights set to exactly 0 (a pruned model), which QKeras keeps at 0 for 8 or
    more bits with max_value 1 (2^-128 flushes to zero)."""
    po2 = quantized_po2(po2_bits, max_value)
    model = stack(conv("qconv_0", 8, 2, kernel=bits(16, 4), bias=bits(16, 4)),
                  relu("qact_0", 16, 4),
                  conv("qconv_1a", 16, 1, kernel=po2, bias=bits(16, 4)),
                  conv("qconv_1b", 8, 1, kernel=quantized_po2(po2_bits, max_value),
                       bias=bits(16, 4)),
                  relu("qact_1", 16, 4),
                  conv("qconv_2", 1, 2, 4, kernel=bits(16, 4), bias=bits(16, 4)), seed=3)
    rng = np.random.default_rng(3)
    for name in ("qconv_1a", "qconv_1b"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[rng.random(kernel.shape) < zeros] = 0.0
        layer.set_weights([kernel, bias])
    return model


def scaled(model, factor):
    """Every kernel times `factor` (a model whose output reaches far beyond +-8)."""
    for layer in model.layers:
        if isinstance(layer, QConv1D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * factor, bias])
    return model


# name -> (model builder, input quantised by the model)
CONVERTS = {
    "no_input_quantiser": (lambda: stack(*dilated(3, [1, 2, 4]), input_q=False), False),
    "k2_dilations_to_64": (lambda: stack(*dilated(2, [1, 2, 4, 8, 16, 32, 64])), True),
    "k3_dilations_to_64": (lambda: stack(*dilated(3, [1, 4, 16, 64], filters=8)), True),
    "8bit_weights_12bit_activations": (lambda: stack(*dilated(
        4, [1, 4, 16], filters=8, kernel=bits(8, 1), bias=bits(8, 1))), True),
    "po2_pair_8bit": (lambda: po2_pair(8), True),
    "po2_pair_8bit_pruned": (lambda: po2_pair(8, zeros=0.25), True),
    "two_outputs": (lambda: stack(conv("qconv_0", 6, 3, 2), relu("qact_0"),
                                  conv("qconv_1", 2, 2, 8)), True),
    "output_beyond_8": (lambda: scaled(stack(*dilated(3, [1, 2, 4], filters=8,
                                                      kernel=bits(12, 4))), 4.0), True),
}


def inputs() -> list[np.ndarray]:
    """A gliding triangle and full-range noise, 12,000 samples each."""
    return [x[:SAMPLES] for x in signals()]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    built = {}
    for name, (build, _) in CONVERTS.items():
        model = build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutputRangeWarning)
            hls_model = convert(model, tmp_path_factory.mktemp(name) / "project",
                                testbench_input=inputs())
        hls_model.compile()
        built[name] = (model, hls_model)
    return built


@pytest.mark.parametrize("name", list(CONVERTS))
def test_converts_and_matches_the_reference_and_model_predict(name, converted):
    model, hls_model = converted[name]
    input_quantised = CONVERTS[name][1]
    reference = FixedPointReference(hls_model.exported)
    worst = keras_distance_bound(hls_model.exported, input_quantised)
    for x in inputs():
        hls = hls_model.predict(x)
        np.testing.assert_array_equal(hls, reference.run(x))
        keras = model.predict(x[None], verbose=0)[0]
        distance = np.abs(hls - keras)
        assert np.all(distance <= keras_distance(reference, x, input_quantised)), name
        assert distance.max() <= worst
    assert all(c["overflows"] == 0 for c in reference.counters().values())


def test_the_input_word_comes_from_the_hls_config(converted, tmp_path):
    model, hls_model = converted["no_input_quantiser"]
    assert hls_model.exported.input_format == DEFAULT_INPUT_FORMAT  # ap_fixed<16,1>
    defines = (hls_model.project_dir / "firmware" / "defines.h").read_text()
    assert "typedef ap_fixed<16,1,AP_RND_CONV,AP_SAT,0> input_t;" in defines
    coarse = convert(model, tmp_path / "p", {"input_precision": "ap_fixed<8,1>"},
                     testbench_input=inputs()[:1])
    assert coarse.exported.input_format == FixedFormat(8, 0, signed=True)
    x = inputs()[0]
    keras = model.predict(x[None], verbose=0)[0]
    # The coarser input word is part of what the C simulation sees, and of the bound.
    reference = FixedPointReference(coarse.exported)
    assert np.all(np.abs(coarse.predict(x) - keras) <= keras_distance(reference, x, False))
    assert np.abs(coarse.predict(x) - keras).max() > np.abs(hls_model.predict(x) - keras).max()


def test_a_model_with_its_own_input_quantiser_ignores_input_precision(tmp_path):
    model = stack(*dilated(2, [1, 2]))
    exported = from_qkeras(model, input_format=FixedFormat(8, 0, True))
    assert exported.input_format == FixedFormat(16, 0, True)


def test_a_linear_output_beyond_8_gets_a_wider_integer_part(converted):
    model, hls_model = converted["output_beyond_8"]
    peak = max(float(np.abs(model.predict(x[None], verbose=0)).max()) for x in inputs())
    assert peak > 8
    fmt = hls_model.exported.output_format
    assert fmt.bits == 16 and fmt.integer > 3
    # The fewest integer bits whose largest word holds twice the calibration peak.
    assert largest(fmt.integer - 1) < 2 * hls_model.exported.output_peak <= largest(fmt.integer)
    assert output_range(hls_model.exported).worst_case >= peak  # the bound holds what was seen


def largest(integer: int) -> float:
    """The largest value of a 16-bit signed word with `integer` integer bits."""
    fmt = FixedFormat(16, integer, True)
    return float(fmt.values(fmt.max_word))


def test_without_calibration_the_output_word_holds_the_worst_case(tmp_path):
    model = CONVERTS["output_beyond_8"][0]()
    exported = from_qkeras(model)
    output = output_range(exported)
    assert not output.can_saturate and output.calibration_peak is None
    integer = exported.output_format.integer
    assert largest(integer - 1) < output.worst_case <= largest(integer) == output.limit
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutputRangeWarning)
        convert(model, tmp_path / "p")  # no warning: it cannot saturate
    with pytest.warns(OutputRangeWarning, match=r"^model: output word fixed<16,\d+> .* can "
                                                 r"saturate it$"):
        convert(model, tmp_path / "q", testbench_input=[x[:2000] * 0.1 for x in inputs()])


def test_a_pruned_8bit_po2_model_keeps_its_zeros(converted):
    _, hls_model = converted["po2_pair_8bit_pruned"]
    layer = next(layer for layer in hls_model.exported.layers if layer.name == "qconv_1a")
    assert np.count_nonzero(layer.kernel == 0) > 0
    parameters = (hls_model.project_dir / "firmware" / "parameters.h").read_text()
    assert "cached_product_po2_or_zero<" in parameters
    assert "cached_product_po2_or_zero" not in (
        converted["po2_pair_8bit"][1].project_dir / "firmware" / "parameters.h").read_text()


def two_heads():
    inputs = keras.Input((None, 3))
    x = QActivation(bits(16, 0), name="input_q")(inputs)
    x = conv("qconv_0", 4, 2)(x)
    return keras.Model(inputs, [conv("qconv_a", 1, 2)(x), conv("qconv_b", 1, 2)(x)])


def with_tiny_po2_weight(po2):
    """A po2 pair whose first weight is below QKeras's 1e-7: it becomes 2^min_exp."""
    model = po2_pair(8)
    for name in ("qconv_1a", "qconv_1b"):
        layer = model.get_layer(name)
        layer.kernel_quantizer_internal = po2
        layer.kernel_quantizer = po2
    layer = model.get_layer("qconv_1a")
    kernel, bias = layer.get_weights()
    kernel[0, 0, 0] = 0.0
    layer.set_weights([kernel, bias])
    return model


REFUSED = {
    # quantized_po2(7, 1): 0 -> 2^-64, so words from 2^-64 to 2^0: the sum's LSB is
    # 2^-(12 + 64), its integer part 2^7 (inputs below 16, 8 weights up to 1). As for the
    # config's worst case (the pair's second sum is the limit), at most 5 bits fit.
    "po2_7bit_tiny_weight": (
        lambda: with_tiny_po2_weight(quantized_po2(7, 1.0)),
        r"^qconv_1a: an exact sum needs 8[3-5] accumulator bits \(inputs up to 2\^4 in steps "
        r"of 2\^-12, kernel po2<7> \(2\^-64\.\.2\^0\) with weights 2\^-64\.\.2\^0, 8 "
        r"products\); the fixed-point datapath holds at most 63 bits; supported: po2 "
        r"kernels of at most 5 bits \(for any weights\)$"),
    # quantized_po2(8) without max_value has a sign bit: 0 -> 2^-64, not flushed.
    "po2_8bit_signed_tiny_weight": (
        lambda: with_tiny_po2_weight(quantized_po2(8)),
        r"^qconv_1a: an exact sum needs \d+ accumulator bits .*; supported: po2 kernels of "
        r"at most 5 bits \(for any weights\)$"),
    "two_heads": (two_heads, r"^functional(_\d+)?: 1 inputs and 2 outputs; only a single chain"),
    "not_built": (lambda: keras.Sequential([conv("qconv_0", 1, 2)]),
                  r"^sequential(_\d+)?: the model has no input shape yet"),
    "relu_input": (lambda: keras.Sequential(
        [keras.Input((None, 3)), QActivation(quantized_relu(8, 0), name="input_q"),
         conv("qconv_0", 1, 2)]),
        r"^input_q: the input quantiser must be quantized_bits$"),
    "auto_po2_kernel": (lambda: stack(CausalQConv1D(2, 2, padding="causal", name="qconv_0",
                                              kernel_quantizer=quantized_bits(8, 0),
                                              bias_quantizer=bits(8, 0))),
                        r"^qconv_0 kernel: quantized_bits must have alpha=1.*'auto_po2'"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_in_one_line_before_anything_is_written(name, tmp_path):
    build, message = REFUSED[name]
    with pytest.raises(ExportError, match=message) as error:
        convert(build(), tmp_path / "project")
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_input_precision_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^hls config: input_precision: expected "
                                          r"ap_fixed<W,I>, e\.g\. ap_fixed<16,1>, got 'float'$"):
        convert(stack(conv("qconv_0", 1, 2)), tmp_path / "p", {"input_precision": "float"})
    assert list(tmp_path.iterdir()) == []


def po2_config(path, po2_bits):
    """configs/models/po2.yaml with both po2 pairs at `po2_bits`."""
    spec = yaml.safe_load((ROOT / "configs" / "models" / "po2.yaml").read_text())
    for index in (2, 3):
        spec["layers"][index]["kernel_quantizer"]["bits"] = po2_bits
    return write_yaml(path, spec)


def test_config_validation_refuses_po2_widths_the_datapath_cannot_sum(tmp_path):
    assert load_model_config(po2_config(tmp_path / "five.yaml", 5)).scheme == "po2"
    with pytest.raises(ConfigError, match=(
            r"^.*eight\.yaml: layers\.2\.kernel_quantizer: quantized_po2 with 8 bits needs "
            r"149 accumulator bits in qconv_2a \(the exact fixed-point datapath holds at most "
            r"63\); supported: bits <= 5$")):
        load_model_config(po2_config(tmp_path / "eight.yaml", 8))
    spec = yaml.safe_load((ROOT / "configs" / "models" / "fixed16.yaml").read_text())
    spec["kernel_quantizer"] = {"type": "quantized_po2", "bits": 7, "max_value": 1.0}
    with pytest.raises(ConfigError, match=r"^.*: kernel_quantizer: quantized_po2 with 7 bits "
                                          r"needs \d+ accumulator bits in qconv_0 .*; "
                                          r"supported: bits <= 6$"):
        load_model_config(write_yaml(tmp_path / "default.yaml", spec))
    spec["kernel_quantizer"] = {"type": "quantized_bits", "bits": 32, "integer": 4}
    spec["input_quantizer"] = {"type": "quantized_bits", "bits": 32, "integer": 0}
    with pytest.raises(ConfigError, match=r"^.*: layers\.0: qconv_0 needs 67 accumulator bits"):
        load_model_config(write_yaml(tmp_path / "wide.yaml", spec))


def test_export_stage_refuses_a_po2_width_in_one_line(tmp_path):
    model = with_tiny_po2_weight(quantized_po2(7, 1.0))
    (tmp_path / "models" / "wide").mkdir(parents=True)
    model.save(tmp_path / "models" / "wide" / "model.h5")
    out = tmp_path / "exports" / "wide"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.export", "wide", "--models",
         str(tmp_path / "models"), "--out", str(out), "--metrics", str(tmp_path / "m.json")],
        cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert re.fullmatch(r"error: qconv_1a: an exact sum needs \d+ accumulator bits .*; "
                        r"supported: po2 kernels of at most 5 bits \(for any weights\)",
                        done.stderr.strip().splitlines()[-1])
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "exports").exists() and not (tmp_path / "m.json").exists()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    exported = from_qkeras(po2_pair(4))
    path = tmp_path_factory.mktemp("weights") / "weights.json"
    write_weights(exported, path)
    return json.loads(path.read_text())


def without(payload, *keys):
    """A deep copy of `payload` with the entry at the key path removed."""
    copy = json.loads(json.dumps(payload))
    node = copy
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return copy


def changed(payload, value, *keys):
    copy = json.loads(json.dumps(payload))
    node = copy
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return copy


BAD_WEIGHTS = [
    (lambda p: "{\"format_version\": 1,", r"not valid JSON \(.* at line 1 column 22\)"),
    (lambda p: json.dumps([1, 2]), r"\(top level\): expected an object, got list"),
    (lambda p: json.dumps(without(p, "layers")), r"layers: missing"),
    (lambda p: json.dumps(without(p, "layers", 2, "kernel")), r"layers\.2\.kernel: missing"),
    (lambda p: json.dumps(without(p, "layers", 2, "kernel", "shift")),
     r"layers\.2\.kernel\.shift: missing"),
    (lambda p: json.dumps(without(p, "input_format", "bits")), r"input_format\.bits: missing"),
    (lambda p: json.dumps(changed(p, 5, "layers", 0, "kernel_size")),
     r"layers\.0\.kernel\.words: expected integers of shape \[5, 3, 8\]"),
    (lambda p: json.dumps(changed(p, "x", "layers", 0, "bias", "words")),
     r"layers\.0\.bias\.words: expected integers of shape \[8\]"),
    (lambda p: json.dumps(changed(p, [1.5] * 8, "layers", 0, "bias", "words")),
     r"layers\.0\.bias\.words: expected integers of shape \[8\]"),
    (lambda p: json.dumps(changed(p, [40000] * 8, "layers", 0, "bias", "words")),
     r"layers\.0\.bias\.words: a value outside -32768\.\.32767"),
    (lambda p: json.dumps(changed(p, "sigmoid", "layers", 1, "activation")),
     r"layers\.1\.activation: expected one of relu, quantized_bits, linear, got 'sigmoid'"),
    (lambda p: json.dumps(changed(p, 4, "layers", 1, "in_channels")),
     r"layers\.1\.in_channels: 4, but the layer before gives 8 channels"),
    (lambda p: json.dumps(changed(p, [[[-100] * 16] * 8], "layers", 1, "kernel", "shift")),
     r"layers\.1\.kernel\.shift: a value outside -8\.\.0"),
    (lambda p: json.dumps(changed(changed(p, {"bits": 8, "min_shift": -128, "max_shift": 0},
                                          "layers", 1, "kernel", "format"),
                                  [[[-128] + [0] * 15] * 8], "layers", 1, "kernel", "shift")),
     r"qconv_1a: an exact sum needs 14\d accumulator bits .*; supported: po2 kernels of at "
     r"most 5 bits \(for any weights\)$"),
    (lambda p: json.dumps(changed(p, 2, "format_version")), r"format_version 2 is not "
                                                             r"supported"),
]


@pytest.mark.parametrize(("make", "message"), BAD_WEIGHTS)
def test_a_broken_weight_file_is_one_line_naming_the_file_and_key(make, message, weights_file,
                                                                  tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(make(weights_file))
    with pytest.raises(ExportError, match=rf"^{re.escape(str(path))}: {message}") as err:
        read_weights(path)
    assert "\n" not in str(err.value)


def test_a_missing_weight_file_is_one_line(tmp_path):
    with pytest.raises(ExportError, match=r"weights\.json: missing; expected the weight file"):
        read_weights(tmp_path / "weights.json")


PLANTED = {  # in the input process (nnet_cached_axis.h), once the sample is unpacked
    "abort": ("#include <cstdlib>\n", "if (sample.data[0] > data_T(0.5)) { std::abort(); }",
              r"killed by SIGABRT"),
    "assertion": ("#include <cassert>\n", "assert(sample.data[0] < data_T(0.5));",
                  r"killed by SIGABRT\): .*Assertion .* failed\.$"),
    "segfault": ("", "if (sample.data[0] > data_T(0.5)) { volatile int *nowhere = nullptr; "
                     "*nowhere = 1; }", r"killed by SIGSEGV"),
}


@pytest.mark.parametrize("failure", list(PLANTED))
def test_a_crash_in_the_compiled_design_is_one_line_and_the_caller_survives(failure,
                                                                           converted,
                                                                           tmp_path):
    _, hls_model = converted["two_outputs"]
    copy = tmp_path / "broken"
    shutil.copytree(hls_model.project_dir, copy)
    include, statement, message = PLANTED[failure]
    firmware = copy / "firmware" / "nnet_utils" / "nnet_cached_axis.h"
    text = firmware.read_text()
    marker = "    sample.start = word.user[0] == 1;\n"
    assert marker in text
    firmware.write_text(include + text.replace(marker, marker + statement + "\n"))
    broken = CSimulation(copy, "myproject", 3, 2)
    x = inputs()[1]  # noise: some first inputs above 0.5
    with pytest.raises(SimulationError, match=rf"^{re.escape(str(copy))}: the C simulation "
                                              rf"of myproject failed \({message}") as error:
        broken.run(x)
    assert "\n" not in str(error.value)
    with pytest.raises(SimulationError, match=message):
        broken.run_all([x, x], threads=2)
    # This process is still here, and the intact design still runs.
    np.testing.assert_array_equal(hls_model.predict(x),
                                  FixedPointReference(hls_model.exported).run(x))
