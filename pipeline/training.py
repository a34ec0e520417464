"""Train a model on the collected dataset, in the small config-driven style of Neural Amp
Modeler: random windows from the training segments, Adam, early stopping on validation ESR.

Windows are `window_receptive_fields` receptive fields long and drawn afresh every epoch from
a generator seeded with (seed, epoch). Validation runs the model over whole validation
segments, so its ESR measures exactly what streaming inference will do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from pipeline.config import CORNERS, EDGES, ModelConfig, TrainConfig
from pipeline.dataset import SplitData
from pipeline.errors import ConfigError
from pipeline.metrics import esr, masked_mse
from pipeline.model import build_model


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class WindowBatches(tf.keras.utils.Sequence):
    """An epoch of random (segment, offset) training windows, the same for the same seed."""

    def __init__(self, data: SplitData, window: int, batch_size: int, steps: int, seed: int):
        super().__init__()
        self.data, self.window, self.batch_size, self.steps = data, window, batch_size, steps
        self.seed, self.epoch = seed, 0
        self._draw()

    def _draw(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        count = self.steps * self.batch_size
        self.segment_index = rng.integers(0, len(self.data.inputs), size=count)
        lengths = np.array([len(x) for x in self.data.inputs])[self.segment_index]
        self.offsets = (rng.random(count) * (lengths - self.window + 1)).astype(int)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        picks = slice(step * self.batch_size, (step + 1) * self.batch_size)
        xs, ys = [], []
        for segment, offset in zip(self.segment_index[picks], self.offsets[picks], strict=True):
            xs.append(self.data.inputs[segment][offset:offset + self.window])
            ys.append(self.data.targets[segment][offset:offset + self.window])
        return np.stack(xs), np.stack(ys)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._draw()


def predict_segments(model: tf.keras.Model, data: SplitData) -> list[np.ndarray]:
    """Run the model over whole segments (grouped by length so each group is one batch)."""
    outputs: list[np.ndarray | None] = [None] * len(data.inputs)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(data.inputs):
        by_length.setdefault(len(x), []).append(i)
    for indices in by_length.values():
        batch = np.stack([data.inputs[i] for i in indices])
        predictions = model.predict(batch, batch_size=16, verbose=0)
        for i, prediction in zip(indices, predictions, strict=True):
            outputs[i] = prediction
    return outputs


def grouped_esr(data: SplitData, predictions: Sequence[np.ndarray], skip: int,
                select) -> float:
    """ESR over every segment for which `select(segment)` is true, padding-affected steps
    skipped; nan when no segment is selected."""
    chosen = [i for i, s in enumerate(data.segments) if select(s)]
    if not chosen:
        return float("nan")
    target = np.concatenate([data.targets[i][skip:] for i in chosen])
    prediction = np.concatenate([predictions[i][skip:] for i in chosen])
    return esr(target, prediction)


def evaluate(model: tf.keras.Model, data: SplitData, skip: int) -> dict[str, float]:
    """Test metrics: ESR per corner shape and per edge, their means, and held-out frequencies.

    `esr_corners` and `esr_edges` are means of the per-shape and per-edge figures, so every
    shape counts the same whatever its loudness or segment count.
    """
    predictions = predict_segments(model, data)
    metrics = {"esr": grouped_esr(data, predictions, skip, lambda s: True)}
    for shape in CORNERS:
        metrics[f"esr_{shape}"] = grouped_esr(
            data, predictions, skip, lambda s, shape=shape: s.kind == "corner" and s.shape ==
            shape)
    for first, second in EDGES:
        metrics[f"esr_{first}_{second}"] = grouped_esr(
            data, predictions, skip, lambda s, pair=f"{first}+{second}": s.shape == pair)
    corner_values = [metrics[f"esr_{shape}"] for shape in CORNERS]
    edge_values = [metrics[f"esr_{a}_{b}"] for a, b in EDGES]
    metrics["esr_corners"] = float(np.nanmean(corner_values))
    metrics["esr_edges"] = float(np.nanmean(edge_values))
    metrics["esr_heldout_freq"] = grouped_esr(data, predictions, skip, lambda s: s.heldout_freq)
    metrics["esr_trained_freq"] = grouped_esr(data, predictions, skip,
                                              lambda s: not s.heldout_freq)
    return metrics


class ValidationESR(tf.keras.callbacks.Callback):
    """Adds `val_loss` (masked MSE) and `val_esr` on whole validation segments to the logs,
    before early stopping and logging callbacks read them."""

    def __init__(self, data: SplitData, skip: int):
        super().__init__()
        self.data, self.skip = data, skip

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        predictions = predict_segments(self.model, self.data)
        target = np.concatenate([y[self.skip:] for y in self.data.targets])
        prediction = np.concatenate([p[self.skip:] for p in predictions])
        logs = logs if logs is not None else {}
        logs["val_loss"] = float(np.mean((target - prediction) ** 2))
        logs["val_esr"] = esr(target, prediction)


def check_window(model_config: ModelConfig, train_config: TrainConfig,
                 train_data: SplitData) -> int:
    """The training window length, refused when a training segment is shorter."""
    window = train_config.window_receptive_fields * model_config.receptive_field
    shortest = min(len(x) for x in train_data.inputs)
    if shortest < window:
        raise ConfigError(
            f"train.window_receptive_fields: {train_config.window_receptive_fields} receptive "
            f"fields of {model_config.receptive_field} make {window}-sample windows, longer "
            f"than the shortest training segment ({shortest} samples)")
    return window


@dataclass
class TrainResult:
    model: tf.keras.Model
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0


def train(model_config: ModelConfig, train_config: TrainConfig, train_data: SplitData,
          validation_data: SplitData, seed: int,
          callbacks: Sequence[tf.keras.callbacks.Callback] = (),
          verbose: int = 2) -> TrainResult:
    """Train from a seeded initialisation; the returned model holds the best validation
    weights. `callbacks` run after validation, so they see `val_loss` and `val_esr`."""
    window = check_window(model_config, train_config, train_data)
    seed_everything(seed)
    model = build_model(model_config, train_config.l2)
    skip = model_config.receptive_field - 1
    model.compile(optimizer=tf.keras.optimizers.Adam(train_config.learning_rate),
                  loss=masked_mse(skip))
    batches = WindowBatches(train_data, window, train_config.batch_size,
                            train_config.steps_per_epoch, seed)
    early_stopping = tf.keras.callbacks.EarlyStopping(
        monitor="val_esr", mode="min", patience=train_config.early_stopping_patience,
        restore_best_weights=True)
    history = model.fit(
        batches, epochs=train_config.epochs, shuffle=False, verbose=verbose,
        callbacks=[ValidationESR(validation_data, skip), early_stopping, *callbacks])
    val_esr = history.history["val_esr"]
    return TrainResult(model, history.history, int(np.argmin(val_esr)))
