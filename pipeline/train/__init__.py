"""Training: QKeras quantisers, the causal dilated QConv1D stack, the training loop and Keras
inference. The only package that imports TensorFlow at module level."""
