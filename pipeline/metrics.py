"""Training loss and audio quality metrics.

The first `receptive_field - 1` outputs of a window or segment see the causal zero padding,
not real history, so the loss and every metric skip them.
"""

import numpy as np
import tensorflow as tf


def masked_mse(skip: int):
    """Keras loss: MSE over time steps `skip` onwards of each window."""

    def loss(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true[:, skip:, :] - y_pred[:, skip:, :]))

    loss.__name__ = "masked_mse"
    return loss


def esr(target: np.ndarray, prediction: np.ndarray) -> float:
    """Error-to-signal ratio sum((y - ŷ)²) / sum(y²): 0 is perfect, 1 is as bad as silence."""
    target = np.asarray(target, dtype=np.float64)
    error = target - np.asarray(prediction, dtype=np.float64)
    return float(np.sum(error**2) / np.sum(target**2))
