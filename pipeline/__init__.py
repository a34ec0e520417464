"""Train a quantised QKeras WaveNet waveshaper and carry it to an FPGA through hls4ml."""
