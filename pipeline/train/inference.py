"""Keras inference over whole signals: XLA-compiled forward passes, each segment from zero
history (as the streaming hardware starts from reset), and the test and validation figures
computed from them."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from pipeline.data.dataset import SplitData
from pipeline.evaluate.metrics import esr, segment_esr

if TYPE_CHECKING:
    from pipeline.train.training import TrainResult

_INFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference(model: keras.Model) -> Callable[[np.ndarray], tf.Tensor]:
    """The model's forward pass compiled by XLA, once per model. On the validation split it
    ran 2.5x faster than eager Keras (0.12 s against 0.30 s for fixed16) with bit-identical
    outputs for both trained models; training steps stay un-jitted (XLA made them 2.8x
    slower)."""
    if model not in _INFERENCE:
        _INFERENCE[model] = tf.function(lambda x: model(x, training=False), jit_compile=True)
    return _INFERENCE[model]


def predict_segments(model: keras.Model, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the model over whole signals (T, C_in), each from zero history (grouped by
    length so each group is one batch)."""
    forward = inference(model)
    outputs: list[np.ndarray | None] = [None] * len(inputs)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(inputs):
        by_length.setdefault(len(x), []).append(i)
    for indices in by_length.values():
        batch = np.stack([inputs[i] for i in indices])
        predictions = forward(batch).numpy()
        for i, prediction in zip(indices, predictions, strict=True):
            outputs[i] = prediction
    return outputs


def evaluate(model: keras.Model, data: SplitData, skip: int) -> dict[str, float]:
    """Test metrics of the model over whole test segments
    (`pipeline.evaluate.metrics.segment_esr`)."""
    return segment_esr(data, predict_segments(model, data.inputs), skip)


def validation_metrics(model: keras.Model, data: SplitData, skip: int) -> dict[str, float]:
    """`val_loss` (masked MSE) and `val_esr` over whole validation segments."""
    predictions = predict_segments(model, data.inputs)
    target = np.concatenate([y[skip:] for y in data.targets])
    prediction = np.concatenate([p[skip:] for p in predictions])
    return {"val_loss": float(np.mean((target - prediction) ** 2)),
            "val_esr": esr(target, prediction)}


def restart_spread(result: TrainResult, data: SplitData, skip: int,
                   kept_esr_corners: float) -> dict[str, float]:
    """Every restart's test `esr_corners` (`restart_<r>_esr_corners`) with their median,
    min and max: what a difference between designs must exceed to mean something.
    `kept_esr_corners` is the kept restart's, already measured on `data`; the others are
    evaluated here. Leaves the model holding the kept restart's weights."""
    figures: dict[str, float] = {}
    for index, restart in enumerate(result.restarts):
        if index == result.chosen:
            figures[f"restart_{restart.restart}_esr_corners"] = kept_esr_corners
            continue
        result.model.set_weights(restart.weights)
        figures[f"restart_{restart.restart}_esr_corners"] = evaluate(
            result.model, data, skip)["esr_corners"]
    result.model.set_weights(result.restarts[result.chosen].weights)
    values = list(figures.values())
    return {**figures, "esr_corners_median": float(np.median(values)),
            "esr_corners_min": min(values), "esr_corners_max": max(values)}
