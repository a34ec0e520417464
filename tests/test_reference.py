"""The fixed-point streaming reference against QKeras, word for word, on four architectures;
step against run; reset; the weight file; and what the export refuses."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from qkeras import QActivation, quantized_tanh

from pipeline.fixed.equivalence import compare
from pipeline.fixed.ir import ExportError
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import from_dict, read_weights, write_weights
from tests.conftest import ROOT, SAMPLES, architecture, chain, qconv, random_model, signals

ARCHITECTURES = ["fixed16", "po2", "k3_8bit", "tiny_po2_pair"]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_reference_matches_qkeras_word_for_word(name, tmp_path, test_split):
    """Properties that hold on every CPU (pipeline/fixed/equivalence.py derives them): fed QKeras's
    own input words, every layer's word equals QKeras's except where float32 can move the
    sum across a rounding boundary, and then by at most one LSB; where float32 sums exactly,
    nothing differs."""
    model = random_model(architecture(name, tmp_path), seed=7)
    reference = FixedPointReference(from_qkeras(model))
    results = compare(model, reference, [*test_split, *signals()])
    for result, conv in zip(results, reference.layers, strict=True):
        assert result.words >= 3 * SAMPLES
        assert result.unexplained == 0, result
        assert result.differing_forced <= result.at_risk, result
        if conv.out_format is not None:  # a word, not a linear layer's whole accumulator
            assert result.max_lsb_forced <= 1.0, result
        if result.exact:
            assert result.differing_forced == 0, result
    if name == "k3_8bit":
        # A 12-bit input and 8-bit weights and activations: every sum is below 2^24 LSBs, so
        # float32 is exact and the reference agrees end to end.
        assert all(r.exact and r.differing == 0 for r in results), results
    else:
        assert not all(r.exact for r in results)  # fixed16's first layer needs 30 bits


def test_a_reference_off_by_one_bias_lsb_is_caught(tmp_path, test_split):
    model = random_model(architecture("k3_8bit", tmp_path), seed=7)
    exported = from_qkeras(model)
    exported.layers[1].bias[2] += 1
    results = compare(model, FixedPointReference(exported), test_split[:4])
    assert results[0].unexplained == 0 and results[1].unexplained > 0


@pytest.mark.parametrize("name", ["fixed16", "tiny_po2_pair"])
def test_step_equals_run_and_reset_restores_the_initial_state(name, tmp_path):
    model = random_model(architecture(name, tmp_path), seed=3)
    reference = FixedPointReference(from_qkeras(model))
    x = signals()[1][:1500]
    whole = reference.run(x)
    reference.reset()
    streamed = np.stack([reference.step(sample) for sample in x])
    np.testing.assert_array_equal(streamed, whole)
    # run() leaves the state step() would: streaming on after run() continues the signal.
    reference.run(x[:1000])
    continued = np.stack([reference.step(sample) for sample in x[1000:]])
    np.testing.assert_array_equal(continued, whole[1000:])
    reference.reset()
    fresh = FixedPointReference(from_qkeras(model))
    for layer, initial in zip(reference.layers, fresh.layers, strict=True):
        np.testing.assert_array_equal(layer.buffer, initial.buffer)
        assert (layer.head, layer.saturations, layer.overflows) == (initial.head, 0, 0)
    np.testing.assert_array_equal(reference.run(x), whole)


def test_saturation_is_counted(tmp_path):
    config = architecture("k3_8bit", tmp_path)
    model = random_model(config, seed=5)
    reference = FixedPointReference(from_qkeras(model))
    quiet = signals()[0] * 0.01
    reference.run(quiet)
    assert sum(c["saturations"] for c in reference.counters().values()) == 0
    first = model.get_layer("qconv_0")  # the largest weights its format holds
    kernel, bias = first.get_weights()
    first.set_weights([np.full_like(kernel, 3.9), np.full_like(bias, 3.9)])
    loud = FixedPointReference(from_qkeras(model))
    loud.run(signals()[1])
    counters = loud.counters()
    assert counters["qconv_0"]["saturations"] > 0
    assert all(c["overflows"] == 0 for c in counters.values())


@pytest.mark.parametrize("name", ["fixed16", "po2", "tiny_po2_pair"])
def test_weight_file_round_trip_keeps_every_integer(name, tmp_path):
    exported = from_qkeras(random_model(architecture(name, tmp_path), seed=11))
    path = tmp_path / "weights.json"
    write_weights(exported, path)
    back = read_weights(path)
    assert back.input_format == exported.input_format
    assert back.output_format == exported.output_format
    for a, b in zip(exported.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.kernel, b.kernel)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.name, a.kernel_size, a.dilation, a.kernel_frac, a.kernel_format,
                a.bias_format, a.activation) == (b.name, b.kernel_size, b.dilation,
                                                 b.kernel_frac, b.kernel_format,
                                                 b.bias_format, b.activation)


def test_weight_file_of_another_version_is_refused(tmp_path):
    with pytest.raises(ExportError, match=r"format_version 2 is not supported"):
        from_dict({"format_version": 2, "layers": []}, "weights.json")


def test_a_weight_off_its_grid_is_refused_naming_the_layer():
    model = chain(qconv())
    layer = model.get_layer("qconv_0")
    kernel, bias = layer.get_weights()
    kernel[1, 2, 0] = 1e6  # QKeras's float32 straight-through estimator returns 1.0: no word
    layer.set_weights([kernel, bias])
    with pytest.raises(ExportError,
                       match=r"^qconv_0 kernel: value 1\.0 at \[1, 2, 0\] is not a word of "
                             r"fixed<8,0> \(step 2\^-7\)$"):
        from_qkeras(model)


@pytest.mark.parametrize(("layers", "message"), [
    ([qconv(padding="same")], r"qconv_0: padding 'same' is not supported"),
    ([qconv(strides=2)], r"qconv_0: strides \(2,\) are not supported"),
    ([qconv(), QActivation(quantized_tanh(8), name="qact_0")],
     r"qact_0: quantiser quantized_tanh is not supported"),
    ([qconv(kernel_quantizer=None)], r"qconv_0: kernel and bias need quantisers"),
    ([qconv(activation="relu")], r"qconv_0: the convolution must be linear"),
    ([qconv(), keras.layers.Dense(1, name="dense")], r"dense: layer Dense is not supported"),
])
def test_a_model_the_datapath_cannot_represent_is_refused(layers, message):
    with pytest.raises(ExportError, match=message):
        from_qkeras(chain(*layers))


def test_export_stage_refuses_an_unrepresentable_model_and_writes_nothing(tmp_path):
    model = chain(qconv(padding="same"))
    (tmp_path / "models" / "odd").mkdir(parents=True)
    model.save(tmp_path / "models" / "odd" / "model.h5")
    out = tmp_path / "exports" / "odd"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.export", "odd", "--models",
         str(tmp_path / "models"), "--out", str(out), "--metrics", str(tmp_path / "m.json")],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: qconv_0: padding 'same' is not supported (the streaming datapath is causal: "
        "use padding='causal')")
    assert not (tmp_path / "exports").exists() and not (tmp_path / "m.json").exists()
