"""Train a quantised QKeras WaveNet waveshaper and carry it to an FPGA through hls4ml.

TensorFlow's oneDNN kernels stay off unless the environment asks for them, set here before any
module of the project can import TensorFlow. TensorFlow turns them on by itself on CPUs with
AVX-512 VNNI or newer, and they sum in other orders than its own kernels: the same config
trained another model there than on other CPUs (docs/training.md). They also write two log
lines to every stage's stderr, which TF_CPP_MIN_LOG_LEVEL does not silence.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
