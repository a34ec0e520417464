"""Judging a design: audio metrics (ESR, MSE, log-spectral distance), the validation of the
HLS design against Keras, the reference and the target, the figures, and the report."""
