"""Models trained by the previous stack (QKeras 0.9.0 on Keras 2, TensorFlow 2.14) still load
and give the same words on today's (qkeras-v3 on Keras 3): the fixture in
tests/fixtures/qkeras090/ was saved by the old stack with its export (`make_fixture.py`)."""

import json

import numpy as np
import pytest

from pipeline.fixed.equivalence import keras_distance
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import read_weights, to_dict
from pipeline.train.layers import CausalQConv1D
from pipeline.train.model import load_model
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "qkeras090"


@pytest.fixture(scope="module")
def old_model():
    return load_model(FIXTURE / "model.h5")


def signal() -> np.ndarray:
    """The fixture's signal (make_fixture.py): NumPy's PCG64 streams are stable across
    versions."""
    return np.random.default_rng(91).uniform(-1, 1, (2000, 3)).astype(np.float32)


def test_a_model_saved_by_qkeras_090_loads_with_causal_convolutions(old_model):
    convolutions = [layer for layer in old_model.layers if isinstance(layer, CausalQConv1D)]
    assert [layer.name for layer in convolutions] == ["qconv_0", "qconv_1a", "qconv_1b",
                                                      "qconv_2"]
    assert all(layer.padding == "causal" for layer in convolutions)
    assert old_model.predict(signal()[None], verbose=0).shape == (1, 2000, 1)


def test_its_export_equals_the_old_stacks_word_for_word(old_model):
    exported = from_qkeras(old_model, calibration=[signal()])
    assert to_dict(exported) == json.loads((FIXTURE / "weights.json").read_text())


def test_both_stacks_predictions_lie_within_float32s_bound_of_the_reference(old_model):
    """The exact reference is the same words on both stacks; each stack's float32 Keras
    output must lie within the bound `keras_distance` derives (CPU-independent)."""
    reference = FixedPointReference(read_weights(FIXTURE / "weights.json"))
    x = signal()
    expected = reference.run(x)
    bound = keras_distance(reference, x, input_quantised=True)
    old = np.load(FIXTURE / "keras_output.npy")
    new = old_model.predict(x[None], verbose=0)[0]
    assert np.all(np.abs(old - expected) <= bound)
    assert np.all(np.abs(new - expected) <= bound)


@pytest.mark.filterwarnings("ignore::pipeline.hls.OutputRangeWarning")  # a random model
def test_its_hls_and_rtl_designs_equal_the_reference_word_for_word(old_model, tmp_path):
    from pipeline.fixed.folding import fold_for_rate
    from pipeline.hls import convert
    from pipeline.rtl.cxxrtl import CxxrtlSimulation
    from pipeline.rtl.generate import write_project
    from pipeline.rtl.plan import plan_design

    x = signal()
    exported = read_weights(FIXTURE / "weights.json")
    reference = FixedPointReference(exported)
    hls = convert(old_model, tmp_path / "hls", testbench_input=[x])
    np.testing.assert_array_equal(hls.predict(x), reference.run(x))
    folds = [fold_for_rate(layer.kernel_size * layer.in_channels, layer.out_channels, 1e8,
                           192_000) for layer in exported.layers]
    project = write_project(plan_design(exported, folds, 1e8), reference, tmp_path / "rtl",
                            "xc7z020clg400-1")
    firsts = np.zeros(len(x), dtype=np.int64)
    firsts[0] = 1
    run = CxxrtlSimulation(project).run(exported.input_format.words(x), firsts)
    np.testing.assert_array_equal(run.words, reference.run_words(x)[-1])
