"""Train a model on the collected dataset, in the small config-driven style of Neural Amp
Modeler: random windows from the training segments, Adam, the weights of the epoch with the
best validation ESR kept.

Windows are `window_receptive_fields` receptive fields long, drawn afresh every epoch from a
generator seeded with (seed, restart, epoch). A whole epoch of steps runs inside one
`tf.function`: at the small batches that train these tiny models best, Keras's per-step
`fit` machinery is a large share of each step (benchmarks/training_step.py: 1.44x).

`restarts` independent initialisations train side by side in threads (the second core is
otherwise idle: one small model does not keep two busy) and the one with the lowest
validation ESR is kept. Tiny networks land in minima of quite different quality from one
initialisation to the next, so the best of a few is worth more than one trained longer.
Validation runs the model over whole validation segments, so its ESR measures exactly what
streaming inference will do.

The float twin (the same convolutions in float32, `build_model(quantized=False)`) can train
beside the quantised restarts, by the same recipe and seeds: its ESR is what quantisation
costs.

An exception in the calling thread (SIGTERM or SIGINT become one in a stage:
`pipeline.errors.run_stage`) or in any restart stops every restart at its next epoch
boundary; the compiled epoch itself cannot be cut short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from pipeline.config import ModelConfig, TrainConfig, training_window
from pipeline.data.dataset import SplitData
from pipeline.errors import ConfigError
from pipeline.train.inference import validation_metrics
from pipeline.train.model import build_model

HISTORY_KEYS = ("loss", "val_loss", "val_esr")


def pin_threads() -> None:
    """Give each TensorFlow kernel one thread, so that training does not depend on the
    machine's core count: a kernel splits its float32 sums over its intra-op threads, one per
    core by default, and a model trained with 1, 2, 4 or 8 of them came out different each
    time (docs/training.md). Models training side by side still run at once: they use
    inter-op threads, which change no sum. Must run before TensorFlow's first op."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError as error:
        raise RuntimeError("TensorFlow ran an op with several intra-op threads before "
                           "training: call training.pin_threads() first") from error


def seed_everything(seed: int) -> None:
    """Give TensorFlow's kernels one thread (`pin_threads`), seed Python, NumPy and
    TensorFlow and make TensorFlow's kernels deterministic.

    Grappler, TensorFlow's graph optimiser, is turned off: its optimised graph of a compiled
    epoch differed from one compilation to the next (the same 256 steps from the same state
    gave another loss each time), so no training was reproduced from one process to the
    next, op determinism notwithstanding. Its arithmetic optimiser was the one at fault for
    the fixed-point default, but all of it goes, so that no other model need be checked; a
    step costs about a tenth more (`benchmarks/training_step.py`, docs/training.md)."""
    pin_threads()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def masked_mse(skip: int):
    """Keras loss: MSE over time steps `skip` onwards of each window (the earlier ones saw
    the causal zero padding, not real history)."""

    def loss(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true[:, skip:, :] - y_pred[:, skip:, :]))

    loss.__name__ = "masked_mse"
    return loss


def masked_esr(skip: int, pre_emphasis: float):
    """Keras loss: the ESR of the batch over time steps `skip` onwards, both signals first
    pre-emphasised by y[n] - pre_emphasis * y[n-1] (Wright & Valimaki's first-order filter,
    as Neural Amp Modeler trains; on the synthesised shapes MSE did as well, and 0.85 worse:
    docs/training.md)."""

    def emphasised(y):
        return y[:, skip:, :] - pre_emphasis * y[:, skip - 1:-1, :] if pre_emphasis else \
            y[:, skip:, :]

    def loss(y_true, y_pred):
        target = emphasised(y_true)
        return tf.reduce_sum(tf.square(target - emphasised(y_pred))) / (
            tf.reduce_sum(tf.square(target)) + 1e-12)

    loss.__name__ = "masked_esr"
    return loss


def epoch_windows(data: SplitData, window: int, batch_size: int, steps: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An epoch of random (segment, offset) training windows: inputs (steps, batch, window,
    C_in) and targets (steps, batch, window, 1)."""
    count = steps * batch_size
    segment_index = rng.integers(0, len(data.inputs), size=count)
    lengths = np.array([len(x) for x in data.inputs])[segment_index]
    offsets = (rng.random(count) * (lengths - window + 1)).astype(int)
    xs = np.stack([data.inputs[s][o:o + window] for s, o in zip(segment_index, offsets,
                                                                 strict=True)])
    ys = np.stack([data.targets[s][o:o + window] for s, o in zip(segment_index, offsets,
                                                                 strict=True)])
    return (xs.reshape(steps, batch_size, window, -1), ys.reshape(steps, batch_size, window, -1))


def check_window(model_config: ModelConfig, train_config: TrainConfig,
                 train_data: SplitData) -> int:
    """The training window length, refused when a training segment is shorter (the train
    stage checks the configured segment length before reading data: `load_configs`)."""
    window = training_window(train_config, model_config)
    shortest = min(len(x) for x in train_data.inputs)
    if shortest < window:
        raise ConfigError(
            f"train.window_receptive_fields: {train_config.window_receptive_fields} receptive "
            f"fields of {model_config.receptive_field} make {window}-sample windows, longer "
            f"than the shortest training segment ({shortest} samples)")
    return window


def restart_seed(seed: int, restart: int) -> int:
    """Restart 0 starts from `seed` itself; the others from seeds derived from it."""
    return seed if restart == 0 else int(np.random.SeedSequence([seed, restart])
                                         .generate_state(1)[0])


def learning_rate_schedule(config: TrainConfig):
    """Adam's learning rate: a linear warm-up over `warmup_epochs`, then constant, or a
    cosine decay to 0 at the last step. The small batches these models train best with want
    a high rate early and a quiet end."""
    steps = config.epochs * config.steps_per_epoch
    warmup = min(config.warmup_epochs, config.epochs) * config.steps_per_epoch
    if not warmup:
        return (keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
                if config.lr_schedule == "cosine" else config.learning_rate)
    # After the warm-up, alpha (the floor) 0 decays to nothing and 1 holds the rate.
    return keras.optimizers.schedules.CosineDecay(
        0.0, max(steps - warmup, 1), alpha=0.0 if config.lr_schedule == "cosine" else 1.0,
        warmup_target=config.learning_rate, warmup_steps=warmup)


@dataclass
class RestartResult:
    """One initialisation's training: its best weights (lowest validation ESR) and history."""

    restart: int
    weights: list[np.ndarray]
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0

    @property
    def best_val_esr(self) -> float:
        return self.history["val_esr"][self.best_epoch]


@dataclass
class TrainResult:
    """Every restart's result; `model` holds the chosen restart's best-epoch weights;
    `float_twin` the float twin's result when it was trained."""

    model: keras.Model
    restarts: list[RestartResult]
    chosen: int
    float_twin: TrainResult | None = None

    @property
    def history(self) -> dict[str, list[float]]:
        return self.restarts[self.chosen].history

    @property
    def best_epoch(self) -> int:
        return self.restarts[self.chosen].best_epoch


class _Restart:
    """A model, its optimiser and a compiled epoch: one independent training run."""

    def __init__(self, index: int, model_config: ModelConfig, config: TrainConfig,
                 seed: int, window: int, quantized: bool = True):
        self.index, self.config, self.window = index, config, window
        self.seed = restart_seed(seed, index)
        keras.utils.set_random_seed(self.seed)
        self.model = build_model(model_config, config.l2, quantized)
        self.optimizer = keras.optimizers.Adam(learning_rate_schedule(config))
        self.optimizer.build(self.model.trainable_variables)
        self.skip = model_config.receptive_field - 1
        self.loss = (masked_esr(max(self.skip, 1), config.pre_emphasis) if config.loss == "esr"
                     else masked_mse(self.skip))
        self.epoch = tf.function(self._epoch)

    def _epoch(self, xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
        """Every step of an epoch; the mean training loss (data loss plus L2), as Keras
        reports it."""
        variables = self.model.trainable_variables
        total = tf.constant(0.0)
        for step in tf.range(tf.shape(xs)[0]):
            with tf.GradientTape() as tape:
                prediction = self.model(xs[step], training=True)
                loss = self.loss(ys[step], prediction)
                if self.model.losses:
                    loss += tf.add_n(self.model.losses)
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables,
                                               strict=True))
            total += loss
        return total / tf.cast(tf.shape(xs)[0], tf.float32)

    def _may_stop_early(self, epoch: int) -> bool:
        """Early stopping may fire only at a constant rate, after the warm-up. A cosine run
        anneals to its last epoch: its last, quiet epochs are where these models gain most,
        and a stop on a validation plateau while the rate was still high gave the worst of
        five seeds (issue 19: stopped at epoch 36 of 60, test ESR 0.028 against 0.007-0.012;
        docs/training.md)."""
        return (self.config.lr_schedule != "cosine"
                and epoch + 1 >= min(self.config.warmup_epochs, self.config.epochs))

    def run(self, train_data: SplitData, validation_data: SplitData,
            on_epoch: Callable[[int, int, dict[str, float]], None],
            stop: threading.Event) -> RestartResult | None:
        """Train every epoch; None if `stop` was set before the last one."""
        history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        best = RestartResult(self.index, self.model.get_weights(), history)
        best_val_esr = np.inf
        for epoch in range(self.config.epochs):
            if stop.is_set():
                return None
            rng = np.random.default_rng([self.seed, epoch])
            xs, ys = epoch_windows(train_data, self.window, self.config.batch_size,
                                   self.config.steps_per_epoch, rng)
            logs = {"loss": float(self.epoch(xs, ys))}
            logs.update(validation_metrics(self.model, validation_data, self.skip))
            for key in HISTORY_KEYS:
                history[key].append(logs[key])
            if logs["val_esr"] < best_val_esr:
                best_val_esr = logs["val_esr"]
                best.best_epoch, best.weights = epoch, self.model.get_weights()
            on_epoch(self.index, epoch, logs)
            if (epoch - best.best_epoch >= self.config.early_stopping_patience
                    and self._may_stop_early(epoch)):
                break
        return best


def train(model_config: ModelConfig, train_config: TrainConfig, train_data: SplitData,
          validation_data: SplitData, seed: int, verbose: bool = True,
          float_twin: bool = False, quantized: bool = True) -> TrainResult:
    """Train `restarts` seeded initialisations side by side; return the one with the lowest
    validation ESR, its model holding its best-epoch weights. With `float_twin`, the float
    twin's restarts (`build_model(quantized=False)`, the same seeds) train beside them and
    come back as the result's `float_twin`; `quantized=False` trains the float twin alone,
    to ask whether a spread over seeds is quantisation's."""
    if float_twin and not quantized:
        raise ValueError("a float model has no float twin")
    window = check_window(model_config, train_config, train_data)
    seed_everything(seed)
    kinds = (True, False) if float_twin else (quantized,)
    restarts = [_Restart(i, model_config, train_config, seed, window, kind)
                for kind in kinds for i in range(train_config.restarts)]
    results: list[RestartResult | None] = [None] * len(restarts)
    failures: list[BaseException] = []
    stop = threading.Event()

    def reporter(label: str):
        def report(restart: int, epoch: int, logs: dict[str, float]) -> None:
            if verbose:
                print(f"{label}restart {restart + 1}/{train_config.restarts} epoch "
                      f"{epoch + 1}/{train_config.epochs}: "
                      + " ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
        return report

    finished = [threading.Event() for _ in restarts]

    def work(slot: int, restart: _Restart) -> None:
        try:
            label = "" if kinds[slot // train_config.restarts] else "float twin "
            results[slot] = restart.run(train_data, validation_data, reporter(label), stop)
        except BaseException as error:  # re-raised in the calling thread below
            failures.append(error)
            stop.set()
        finally:
            finished[slot].set()

    def wait_for_all() -> None:
        # Events, not Thread.join: a signal handler raising inside join() can leave the
        # thread's state inconsistent (CPython issues 90882 and 45274); here the stage then
        # hung in its second join about once in three SIGINTs.
        for event in finished:
            while not event.wait(0.1):
                pass

    threads = [threading.Thread(target=work, args=(slot, r)) for slot, r in enumerate(restarts)]
    try:
        for thread in threads:
            thread.start()
        wait_for_all()
    except BaseException:
        stop.set()
        for thread, event in zip(threads, finished, strict=True):
            if not thread.ident:
                event.set()  # never started
        wait_for_all()
        raise
    if failures:
        raise failures[0]
    count = train_config.restarts
    quantised = _best(restarts[:count], results[:count])
    if float_twin:
        quantised.float_twin = _best(restarts[count:], results[count:])
    return quantised


def _best(restarts: list[_Restart], results: list[RestartResult]) -> TrainResult:
    """The restart with the lowest validation ESR, its model set to its best weights."""
    chosen = min(results, key=lambda r: r.best_val_esr)
    model = restarts[chosen.restart].model
    model.set_weights(chosen.weights)
    return TrainResult(model, list(results), chosen.restart)
