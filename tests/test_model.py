"""Model builder: shapes, receptive field, factorised po2 pairs, counts."""

import keras
import numpy as np
import pytest
from qkeras import QActivation, QConv1D

from pipeline.config import load_model_config
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.rules import parameters
from pipeline.train.model import build_model
from tests.conftest import ROOT, TINY_MODEL, write_yaml


def tiny(tmp_path, **changes):
    model = {**TINY_MODEL, **changes}
    return load_model_config(write_yaml(tmp_path / "tiny.yaml", model))


@pytest.mark.parametrize("length", [1, 7, 640])
def test_output_has_one_channel_per_input_step(tmp_path, length):
    model = build_model(tiny(tmp_path))
    x = np.random.default_rng(0).uniform(-1, 1, (2, length, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, length, 1)


def config_parameters(config) -> int:
    return sum(parameters(c.kernel_size, c.in_channels, c.out_channels)
               for c in config.convolutions())


def test_blog_models_have_the_published_structure():
    fixed16 = load_model_config(ROOT / "configs/models/fixed16.yaml")
    model = build_model(fixed16)
    assert model.count_params() == config_parameters(fixed16) == 1313
    convs = [layer for layer in model.layers if isinstance(layer, QConv1D)]
    assert [(c.kernel_size[0], c.dilation_rate[0], c.filters) for c in convs] == [
        (4, 1, 16), (4, 4, 16), (4, 16, 1)]
    assert [c.name for c in convs] == [c.name for c in fixed16.convolutions()]
    assert all(c.padding == "causal" for c in convs)

    po2 = load_model_config(ROOT / "configs/models/po2.yaml")
    assert po2.scheme == "po2" and po2.receptive_field == 64
    assert build_model(po2).count_params() == config_parameters(po2)
    pairs = [c for c in po2.convolutions() if c.name.endswith(("a", "b"))]
    assert [(c.in_channels, c.out_channels) for c in pairs] == [(8, 16), (16, 8)] * 2


def test_products_per_sample_are_every_weight_slot_zeros_included():
    # The folded datapath gives every weight a lane slot: zero weights cost like any other.
    fixed16 = load_model_config(ROOT / "configs/models/fixed16.yaml")
    keras.utils.set_random_seed(2)
    exported = from_qkeras(build_model(fixed16))
    first = exported.layers[0]
    first.kernel[0, 0, :5] = 0
    assert first.multiplies == 4 * 3 * 16 and first.shift_adds == 0
    assert sum(layer.multiplies for layer in exported.layers) == 192 + 1024 + 64
    po2 = from_qkeras(build_model(load_model_config(ROOT / "configs/models/po2.yaml")))
    assert [(layer.multiplies, layer.shift_adds) for layer in po2.layers] == [
        (96, 0), (256, 0), (0, 128), (0, 128), (0, 128), (0, 128), (32, 0)]


def test_factorised_layer_is_a_po2_pair_without_activation_between(tmp_path):
    config = tiny(tmp_path)
    model = build_model(config)
    names = [layer.name for layer in model.layers]
    first, second = names.index("qconv_1a"), names.index("qconv_1b")
    assert second == first + 1  # nothing between the pair
    assert isinstance(model.layers[second + 1], QActivation)
    for name, shape in (("qconv_1a", (1, 4, 6)), ("qconv_1b", (1, 6, 4))):
        layer = model.get_layer(name)
        assert layer.kernel.shape == shape
        assert type(layer.kernel_quantizer_internal).__name__ == "quantized_po2"
        weights = layer.kernel_quantizer_internal(layer.kernel).numpy()
        exponents = np.log2(np.abs(weights))
        np.testing.assert_array_equal(exponents, np.round(exponents))


def test_receptive_field_is_exactly_the_causal_window(tmp_path):
    # Linear (quantised) activations keep every path alive, so the response spans the field.
    config = tiny(tmp_path, activation={"type": "quantized_bits", "bits": 16, "integer": 5})
    assert config.receptive_field == 1 + 1 * 1 + 0 + 2 * 2
    keras.utils.set_random_seed(1)
    model = build_model(config)
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (1, 40, 3)).astype("float32")
    bumped = x.copy()
    bumped[0, 20, 0] += 0.5
    change = np.abs(model.predict(bumped, verbose=0) - model.predict(x, verbose=0))[0, :, 0]
    affected = np.flatnonzero(change > 0)
    assert affected.min() == 20  # causal: nothing before the change moves
    assert affected.max() == 20 + config.receptive_field - 1
