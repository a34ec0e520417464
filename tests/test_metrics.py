"""The masked training loss and the ESR metric."""

import numpy as np
import pytest
import tensorflow as tf

from pipeline.evaluate.metrics import esr
from pipeline.train.training import masked_mse


def test_masked_mse_ignores_exactly_the_padding_affected_steps():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(3, 50, 1)).astype("float32")
    prediction = target + 0.1
    loss = masked_mse(skip=9)
    base = float(loss(tf.constant(target), tf.constant(prediction)))
    assert base == pytest.approx(0.01, rel=1e-5)
    early = prediction.copy()
    early[:, :9] += 5.0  # only steps that saw padding
    assert float(loss(tf.constant(target), tf.constant(early))) == pytest.approx(base)
    late = prediction.copy()
    late[:, 9] += 5.0  # the first step with a full receptive field
    assert float(loss(tf.constant(target), tf.constant(late))) > base


def test_esr():
    y = np.sin(np.linspace(0, 20, 1000))
    assert esr(y, y) == 0.0
    assert esr(y, np.zeros_like(y)) == 1.0
    assert esr(y, 0.9 * y) == pytest.approx(0.01)
    assert esr(2 * y, 1.8 * y) == pytest.approx(0.01)  # scale-free
