"""Train a quantised QKeras WaveNet waveshaper and carry it to an FPGA through hls4ml.

Two settings of TensorFlow's CPU kernels, made here (unless the environment already says)
before any module of the project can import TensorFlow, so that training runs the same
instructions on every x86-64 CPU with AVX2 (docs/training.md, "Training figures on your
machine"). Where a long sum is sliced still follows the cache sizes the CPU reports, so
the same config trains the same weights on one machine, not on every CPU ("But not the
same slices on every CPU", there).

- oneDNN's own kernels stay off (TF_ENABLE_ONEDNN_OPTS=0). TensorFlow turns them on by
  itself on CPUs with AVX-512 VNNI or newer; they sum in other orders than its default
  kernels, and they write two log lines to every stage's stderr that TF_CPP_MIN_LOG_LEVEL
  does not silence.
- oneDNN's matrix products, which TensorFlow's default kernels call too, use AVX2 at most
  (ONEDNN_MAX_CPU_ISA=AVX2). They choose their instructions at run time, and on an AVX-512
  CPU they summed otherwise: the default stack's seed 1 trained to test ESR 0.0057 there
  against 0.0068 on an AVX2 CPU, and to 0.0068 with this cap.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
