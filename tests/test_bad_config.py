"""A table of bad configs, each with the one-line error it must give, and edge values that
must be accepted.

Every row changes the shipped params.yaml or configs/models/fixed16.yaml (or the raw text of
params.yaml, for the YAML-level cases) and loads it as the train and report stages do
(`load_configs`). A refused row must raise a ConfigError whose whole message is
`<file>: <field.path>: <what is wrong> (got <value>)`, on one line.
"""

import copy
import os
import re
import subprocess
import sys

import pytest
import yaml

from pipeline.config import load_configs
from pipeline.errors import ConfigError
from tests.conftest import ROOT

# The rows change the blog's fixed16 (its receptive field of 64 is in the messages), so the
# params name the blog's two models; `test_the_shipped_configs_load` loads the defaults.
PARAMS = {**yaml.safe_load((ROOT / "params.yaml").read_text()), "models": ["fixed16", "po2"]}
FIXED16 = yaml.safe_load((ROOT / "configs" / "models" / "fixed16.yaml").read_text())
SHIPPED_CONFIGS = ", ".join(sorted(p.stem for p in (ROOT / "configs" / "models").glob("*.yaml")))
INF, NAN = float("inf"), float("nan")
RECORDED = {"dir": "data/recorded", "segment_seconds": 0.25,
            "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
            "clip_level": 0.999, "max_latency_samples": 64}
PO2_BIAS = {"type": "quantized_po2", "bits": 4, "max_value": 1.0}
MEMORY = r"an epoch's training windows for fixed16 \(restarts \d+( x 2 \(float_twin\))? x " \
         r"steps_per_epoch \d+ x " \
         r"batch_size \d+ x 512 samples x 4 float32 channels\) take [0-9.,]+ GiB, more than the " \
         r"1 GiB limit"
WINDOW = r"shorter than a training window: train\.window_receptive_fields \(8\) x the " \
         r"receptive field of fixed16 \(64\) = 512 samples"
NYQUIST = r"not below the Nyquist frequency \(24000 Hz at data\.sample_rate 48000\)"
AP_WIDTH = r"the width W must be a whole number from 1 to 1024"
SATURATION = r"the saturation mode O must be one of AP_WRAP, AP_SAT, AP_SAT_ZERO, AP_SAT_SYM"


def changed(data: dict, changes: dict) -> dict:
    """`data` with dotted paths (list items by index) set to new values."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return data


def hls_layer(**fields) -> dict:
    return {"hls.layers": {"qconv_0": fields}}


# (id, changes to params.yaml, message after "<params.yaml>: ")
PARAM_ERRORS = [
    # Tracebacks at 91cb68b.
    ("glide-octaves-inf", {"data.synth.max_glide_octaves": INF},
     r"data\.synth\.max_glide_octaves: Input should be a finite number \(got inf\)"),
    ("seed-2^32", {"seed": 2**32},
     r"seed: must be below 2\^32 = 4294967296 \(TensorFlow's and NumPy's global seeds are "
     r"32-bit\) \(got 4294967296\)"),
    ("l2-inf", {"train.l2": INF}, r"train\.l2: Input should be a finite number \(got inf\)"),
    ("ap-fixed-empty", hls_layer(result="ap_fixed<,>"),
     rf"hls\.layers\.qconv_0\.result: {AP_WIDTH} \(got 'ap_fixed<,>'\)"),
    ("sweep-shorter-than-frame", {"validation.sweep.seconds": 0.02},
     r"validation\.sweep\.seconds: 960 samples at data\.sample_rate 48000, fewer than one STFT "
     r"frame \(validation\.stft_n_fft 2048\) \(got 0\.02\)"),
    # Silently accepted at 91cb68b.
    ("synth-above-nyquist", {"data.synth.frequency_range_hz": [30.0, 30000.0]},
     rf"data\.synth\.frequency_range_hz: 30000 Hz is {NYQUIST} \(got \[30\.0, 30000\.0\]\)"),
    ("synth-at-nyquist", {"data.synth.frequency_range_hz": [30.0, 24000.0]},
     rf"data\.synth\.frequency_range_hz: 24000 Hz is {NYQUIST} \(got \[30\.0, 24000\.0\]\)"),
    ("heldout-above-nyquist", {"data.synth.frequency_range_hz": [30.0, 30000.0],
                               "data.synth.heldout_bands_hz": [[95.0, 110.0], [25e3, 26e3]]},
     rf"data\.synth\.frequency_range_hz: 30000 Hz is {NYQUIST} \(got \[30\.0, 30000\.0\]\)"),
    ("sweep-above-nyquist", {"validation.sweep.frequency_range_hz": [30.0, 30000.0]},
     rf"validation\.sweep\.frequency_range_hz: 30000 Hz is {NYQUIST} "
     r"\(got \[30\.0, 30000\.0\]\)"),
    ("learning-rate-inf", {"train.learning_rate": INF},
     r"train\.learning_rate: Input should be a finite number \(got inf\)"),
    ("learning-rate-nan", {"train.learning_rate": NAN},
     r"train\.learning_rate: Input should be a finite number \(got nan\)"),
    ("lsd-floor-nan", {"validation.lsd_floor_above_rounding_noise_db": NAN},
     r"validation\.lsd_floor_above_rounding_noise_db: Input should be a finite number "
     r"\(got nan\)"),
    ("hop-longer-than-frame", {"validation.stft_hop": 2049},
     r"validation\.stft_hop: must be at most stft_n_fft \(2048\): a longer hop skips samples "
     r"between frames \(got 2049\)"),
    ("duplicate-model", {"models": ["fixed16", "po2", "fixed16"]},
     r"models\.2: 'fixed16' is listed twice \(got 'fixed16'\)"),
    ("segment-0-samples", {"data.synth.segment_seconds": 0.00001},
     r"data\.synth\.segment_seconds: rounds to 0 samples at sample_rate 48000 \(got 1e-05\)"),
    ("segment-shorter-than-window", {"data.synth.segment_seconds": 511 / 48000},
     rf"data\.synth\.segment_seconds: 511 samples at data\.sample_rate 48000, {WINDOW} "
     r"\(got 0\.01064\d*\)"),
    ("recorded-segment-shorter-than-window",
     {"data.source": "both", "data.recorded": {**RECORDED, "segment_seconds": 0.01}},
     rf"data\.recorded\.segment_seconds: 480 samples at data\.sample_rate 48000, {WINDOW} "
     r"\(got 0\.01\)"),
    ("clock-1e-300", {"hls.clock_period_ns": 1e-300},
     r"hls\.clock_period_ns: must be from 0\.5 ns to 1000 ns \(a 2000 MHz to 1 MHz clock\) "
     r"\(got 1e-300\)"),
    ("clock-too-slow", {"hls.clock_period_ns": 1000.5},
     r"hls\.clock_period_ns: must be from 0\.5 ns to 1000 ns .* \(got 1000\.5\)"),
    ("missing-model-config", {"models": ["fixed16", "po3"]},
     r"models\.1: \S+/configs/models/po3\.yaml does not exist \(model configs in "
     rf"\S+/configs/models: {SHIPPED_CONFIGS}\) \(got 'po3'\)"),
    # The audit.
    ("seed-negative", {"seed": -1},
     r"seed: Input should be greater than or equal to 0 \(got -1\)"),
    ("seed-float", {"seed": 1.5}, r"seed: Input should be a valid integer \(got 1\.5\)"),
    ("sample-rate-float", {"data.sample_rate": 48000.5},
     r"data\.sample_rate: Input should be a valid integer \(got 48000\.5\)"),
    ("sample-rate-low", {"data.sample_rate": 4000},
     r"data\.sample_rate: Input should be greater than or equal to 8000 \(got 4000\)"),
    ("source-unknown", {"data.source": "tape"},
     r"data\.source: Input should be 'synth', 'recorded' or 'both' \(got 'tape'\)"),
    ("source-recorded-without-section", {"data.source": "recorded"},
     r"data: source 'recorded' needs a 'recorded' section"),
    ("segments-zero", {"data.synth.segments.test": 0},
     r"data\.synth\.segments\.test: Input should be greater than or equal to 1 \(got 0\)"),
    ("corner-fraction-nan", {"data.synth.corner_fraction": NAN},
     r"data\.synth\.corner_fraction: Input should be a finite number \(got nan\)"),
    ("glide-probability", {"data.synth.glide_probability": 1.5},
     r"data\.synth\.glide_probability: Input should be less than or equal to 1 \(got 1\.5\)"),
    ("band-limit", {"data.synth.band_limit": "blep"},
     r"data\.synth\.band_limit: Input should be 'polyblep' or 'none' \(got 'blep'\)"),
    ("range-reversed", {"data.synth.frequency_range_hz": [2000.0, 30.0]},
     r"data\.synth\.frequency_range_hz: must be \[low, high\] with 0 < low < high "
     r"\(got \[2000\.0, 30\.0\]\)"),
    ("range-one-value", {"data.synth.frequency_range_hz": [30.0]},
     r"data\.synth\.frequency_range_hz: List should have at least 2 items after validation, "
     r"not 1 \(got \[30\.0\]\)"),
    ("bands-unsorted", {"data.synth.heldout_bands_hz": [[440.0, 500.0], [95.0, 110.0]]},
     r"data\.synth\.heldout_bands_hz\.1: held-out bands must be sorted, disjoint \[low, high\] "
     r"pairs strictly inside frequency_range_hz \[30\.0, 2000\.0\] \(got \[95\.0, 110\.0\]\)"),
    ("band-outside-range", {"data.synth.heldout_bands_hz": [[1900.0, 2100.0]]},
     r"data\.synth\.heldout_bands_hz\.0: held-out bands must be .* \(got \[1900\.0, 2100\.0\]\)"),
    ("band-one-edge", {"data.synth.heldout_bands_hz": [[95.0]]},
     r"data\.synth\.heldout_bands_hz\.0: held-out bands must be .* \(got \[95\.0\]\)"),
    ("heldout-fraction-without-bands", {"data.synth.heldout_bands_hz": []},
     r"data\.synth\.heldout_test_fraction: a fraction above 0 needs at least one band in "
     r"heldout_bands_hz \(got 0\.5\)"),
    ("heldout-fraction-above-1", {"data.synth.heldout_test_fraction": 1.5},
     r"data\.synth\.heldout_test_fraction: Input should be less than or equal to 1 "
     r"\(got 1\.5\)"),
    ("epochs-zero", {"train.epochs": 0},
     r"train\.epochs: Input should be greater than or equal to 1 \(got 0\)"),
    ("epochs-text", {"train.epochs": "ten"},
     r"train\.epochs: Input should be a valid integer \(got 'ten'\)"),
    ("learning-rate-negative", {"train.learning_rate": -0.1},
     r"train\.learning_rate: Input should be greater than 0 \(got -0\.1\)"),
    ("lr-schedule", {"train.lr_schedule": "linear"},
     r"train\.lr_schedule: Input should be 'constant' or 'cosine' \(got 'linear'\)"),
    ("restarts-zero", {"train.restarts": 0},
     r"train\.restarts: Input should be greater than or equal to 1 \(got 0\)"),
    ("window-fields-one", {"train.window_receptive_fields": 1},
     r"train\.window_receptive_fields: Input should be greater than or equal to 2 \(got 1\)"),
    ("batch-size-huge", {"train.batch_size": 100_000}, rf"train\.batch_size: {MEMORY} "
                                                      r"\(got 100000\)"),
    ("steps-huge", {"train.steps_per_epoch": 10**7},
     rf"train\.batch_size: {MEMORY} \(got {PARAMS['train']['batch_size']}\)"),
    ("restarts-huge", {"train.restarts": 1000},
     rf"train\.batch_size: {MEMORY} \(got {PARAMS['train']['batch_size']}\)"),
    ("epochs-memory-edge", {"train.restarts": 1, "train.steps_per_epoch": 1024,
                            "train.batch_size": 129, "train.float_twin": False},
     rf"train\.batch_size: {MEMORY} \(got 129\)"),
    ("epochs-memory-edge-with-twin", {"train.restarts": 1, "train.steps_per_epoch": 512,
                                      "train.batch_size": 129, "train.float_twin": True},
     r"train\.batch_size: an epoch's training windows for fixed16 \(restarts 1 x 2 "
     r"\(float_twin\) x steps_per_epoch 512 x batch_size 129 x 512 samples x 4 float32 "
     r"channels\) take 1\.01 GiB, more than the 1 GiB limit \(got 129\)"),
    ("unknown-key", {"train.epoch": 3}, r"train\.epoch: unknown key"),
    ("experiment-empty", {"tracking.experiment": ""},
     r"tracking\.experiment: String should have at least 1 character \(got ''\)"),
    ("backend", {"hls.backend": "Quartus"},
     r"hls\.backend: Input should be 'Vitis' or 'Vivado' \(got 'Quartus'\)"),
    ("part-empty", {"hls.part": ""},
     r"hls\.part: an FPGA part name such as xc7z020clg400-1: letters, digits, '_', '-' and "
     r"'\.' \(it goes into the project's Tcl script\) \(got ''\)"),
    ("part-with-space", {"hls.part": "xc7z020 clg400-1"},
     r"hls\.part: an FPGA part name .* \(got 'xc7z020 clg400-1'\)"),
    ("reuse-factor-zero", {"hls.reuse_factor": 0},
     r"hls\.reuse_factor: Input should be greater than or equal to 1 \(got 0\)"),
    ("reuse-factor-beyond-unsigned", {"hls.reuse_factor": 2**32},
     r"hls\.reuse_factor: Input should be less than or equal to 4294967295 \(got 4294967296\)"),
    ("project-name", {"hls.project_name": "my-project"},
     r"hls\.project_name: String should match pattern .* \(got 'my-project'\)"),
    ("testbench-samples-zero", {"hls.testbench_samples": 0},
     r"hls\.testbench_samples: Input should be greater than or equal to 1 \(got 0\)"),
    ("layer-reuse-factor-zero", hls_layer(reuse_factor=0),
     r"hls\.layers\.qconv_0\.reuse_factor: Input should be greater than or equal to 1 "
     r"\(got 0\)"),
    ("ap-float", hls_layer(result="float"),
     r"hls\.layers\.qconv_0\.result: expected ap_fixed<W,I>, ap_ufixed<W,I> \(optionally with "
     r",Q,O,N\), ap_int<W> or ap_uint<W> \(got 'float'\)"),
    ("ap-trailing-text", hls_layer(result="ap_fixed<16,6>;"),
     r"hls\.layers\.qconv_0\.result: expected ap_fixed<W,I>.* \(got 'ap_fixed<16,6>;'\)"),
    ("ap-fixed-one-field", hls_layer(accum="ap_fixed<16>"),
     r"hls\.layers\.qconv_0\.accum: ap_fixed takes <W,I\[,Q\[,O\[,N\]\]\]> "
     r"\(got 'ap_fixed<16>'\)"),
    ("ap-int-two-fields", hls_layer(accum="ap_int<16,2>"),
     r"hls\.layers\.qconv_0\.accum: ap_int takes <W> \(got 'ap_int<16,2>'\)"),
    ("ap-width-zero", hls_layer(result="ap_fixed<0,0>"),
     rf"hls\.layers\.qconv_0\.result: {AP_WIDTH} \(got 'ap_fixed<0,0>'\)"),
    ("ap-width-too-wide", hls_layer(result="ap_int<1025>"),
     rf"hls\.layers\.qconv_0\.result: {AP_WIDTH} \(got 'ap_int<1025>'\)"),
    ("ap-integer-bits", hls_layer(result="ap_fixed<16,x>"),
     r"hls\.layers\.qconv_0\.result: the integer bits I must be a whole number "
     r"\(got 'ap_fixed<16,x>'\)"),
    ("ap-rounding", hls_layer(result="ap_fixed<16,6,AP_ROUND>"),
     r"hls\.layers\.qconv_0\.result: the rounding mode Q must be one of AP_TRN, AP_TRN_ZERO, "
     r"AP_RND, AP_RND_ZERO, AP_RND_INF, AP_RND_MIN_INF, AP_RND_CONV "
     r"\(got 'ap_fixed<16,6,AP_ROUND>'\)"),
    ("ap-wrap-sm", hls_layer(accum="ap_fixed<32,12,AP_RND,AP_WRAP_SM>"),
     rf"hls\.layers\.qconv_0\.accum: {SATURATION} \(got 'ap_fixed<32,12,AP_RND,AP_WRAP_SM>'\)"),
    ("ap-saturation-bits", hls_layer(result="ap_fixed<16,6,AP_RND,AP_WRAP,-1>"),
     r"hls\.layers\.qconv_0\.result: the saturation bits N must be a whole number "
     r"\(got 'ap_fixed<16,6,AP_RND,AP_WRAP,-1>'\)"),
    ("sweep-seconds-inf", {"validation.sweep.seconds": INF},
     r"validation\.sweep\.seconds: Input should be a finite number \(got inf\)"),
    ("sweep-one-frame-short", {"validation.sweep.seconds": 2047 / 48000},
     r"validation\.sweep\.seconds: 2047 samples at data\.sample_rate 48000, fewer than one "
     r"STFT frame \(validation\.stft_n_fft 2048\) \(got 0\.0426\d*\)"),
    ("sweep-range-reversed", {"validation.sweep.frequency_range_hz": [2000.0, 30.0]},
     r"validation\.sweep\.frequency_range_hz: must be \[low, high\] with 0 < low <= high "
     r"\(got \[2000\.0, 30\.0\]\)"),
    ("n-fft-small", {"validation.stft_n_fft": 8},
     r"validation\.stft_n_fft: Input should be greater than or equal to 16 \(got 8\)"),
    ("hop-zero", {"validation.stft_hop": 0},
     r"validation\.stft_hop: Input should be greater than or equal to 1 \(got 0\)"),
    ("lsd-floor-huge", {"validation.lsd_floor_above_rounding_noise_db": 4000.0},
     r"validation\.lsd_floor_above_rounding_noise_db: must be from -200 to 200 dB "
     r"\(got 4000\.0\)"),
    ("lsd-floor-minus-inf", {"validation.lsd_floor_above_rounding_noise_db": -INF},
     r"validation\.lsd_floor_above_rounding_noise_db: Input should be a finite number "
     r"\(got -inf\)"),
    ("csim-threads-zero", {"validation.csim_threads": 0},
     r"validation\.csim_threads: Input should be greater than or equal to 1 \(got 0\)"),
    ("csim-threads-huge", {"validation.csim_threads": 65},
     r"validation\.csim_threads: Input should be less than or equal to 64 \(got 65\)"),
    ("models-empty", {"models": []},
     r"models: List should have at least 1 item after validation, not 0 \(got \[\]\)"),
    ("model-name-path", {"models": ["../fixed16"]},
     r"models\.0: a model name is the stem of a file in configs/models/: letters, digits, "
     r"'_', '-' and '\.', not starting with '\.' or '-' \(got '\.\./fixed16'\)"),
    ("model-name-hidden", {"models": [".fixed16"]},
     r"models\.0: a model name is the stem .* \(got '\.fixed16'\)"),
]

# (id, changes to configs/models/fixed16.yaml, message after "<fixed16.yaml>: ")
MODEL_ERRORS = [
    ("bias-po2", {"bias_quantizer": PO2_BIAS},
     r"bias_quantizer\.type: a bias quantiser must be quantized_bits \(the export stores every "
     r"bias as a fixed-point word; quantized_po2 is for kernels\) \(got 'quantized_po2'\)"),
    ("layer-bias-po2", {"layers.1.bias_quantizer": PO2_BIAS},
     r"layers\.1\.bias_quantizer\.type: a bias quantiser must be quantized_bits .* "
     r"\(got 'quantized_po2'\)"),
    ("relu-32-bits", {"activation": {"type": "quantized_relu", "bits": 32, "integer": 4}},
     r"activation\.bits: quantized_relu supports 2 to 31 bits \(the export refuses 32 or "
     r"more\) \(got 32\)"),
    ("layer-relu-40-bits", {"layers.0.activation": {"type": "quantized_relu", "bits": 40,
                                                    "integer": 4}},
     r"layers\.0\.activation\.bits: quantized_relu supports 2 to 31 bits .* \(got 40\)"),
    ("relu-1-bit", {"activation": {"type": "quantized_relu", "bits": 1, "integer": 0}},
     r"activation\.bits: quantized_relu supports 2 to 31 bits .* \(got 1\)"),
    ("relu-integer", {"activation": {"type": "quantized_relu", "bits": 8, "integer": 9}},
     r"activation: integer \(9\) must be at most bits \(8\)"),
    ("po2-max-value-inf", {"layers.1.kernel_quantizer": {"type": "quantized_po2", "bits": 4,
                                                         "max_value": INF}},
     r"layers\.1\.kernel_quantizer\.max_value: Input should be a finite number \(got inf\)"),
    ("po2-max-value-zero", {"kernel_quantizer": {"type": "quantized_po2", "bits": 4,
                                                 "max_value": 0.0}},
     r"kernel_quantizer\.max_value: Input should be greater than 0 \(got 0\.0\)"),
    ("kernel-type", {"kernel_quantizer.type": "quantized_tanh"},
     r"kernel_quantizer: Input tag 'quantized_tanh' found using 'type' does not match any of "
     r"the expected tags: 'quantized_bits', 'quantized_po2' \(got .*\)"),
    ("kernel-integer", {"kernel_quantizer.integer": 16},
     r"kernel_quantizer: integer \(16\) must be at most bits - 1 \(15\)"),
    ("bits-above-32", {"input_quantizer.bits": 33},
     r"input_quantizer\.bits: Input should be less than or equal to 32 \(got 33\)"),
    ("input-relu", {"input_quantizer": {"type": "quantized_relu", "bits": 16, "integer": 0}},
     r"input_quantizer\.type: Input should be 'quantized_bits' \(got 'quantized_relu'\)"),
    ("dilation-negative", {"layers.2.dilation": -4},
     r"layers\.2\.dilation: Input should be greater than or equal to 1 \(got -4\)"),
    ("kernel-size-zero", {"layers.0.kernel_size": 0},
     r"layers\.0\.kernel_size: Input should be greater than or equal to 1 \(got 0\)"),
    ("filters-float", {"layers.0.filters": 2.5},
     r"layers\.0\.filters: Input should be a valid integer \(got 2\.5\)"),
    ("layer-unknown-key", {"layers.0.padding": "same"}, r"layers\.0\.padding: unknown key"),
    ("factorized-not-pointwise", {"layers.1": {"filters": 16, "kernel_size": 2,
                                               "factorized_rank": 8}},
     r"layers\.1\.kernel_size: factorized_rank needs kernel_size 1 \(a pair of 1x1 "
     r"convolutions\) \(got 2\)"),
    ("two-outputs", {"layers.2.filters": 2},
     r"layers\.2\.filters: must be 1: the model predicts one channel \(got 2\)"),
    ("no-layers", {"layers": []},
     r"layers: List should have at least 1 item after validation, not 0 \(got \[\]\)"),
    ("name-key", {"name": "other"}, r"name: unknown key \(a model is named after its file\)"),
]

# (id, (old, new) replaced in the bytes of params.yaml, message after "<params.yaml>: ")
RAW_ERRORS = [
    ("not-utf-8", (b"# Pipeline settings.", b"# R\xe9glages du pipeline."),
     r"not UTF-8 text \(byte 0xe9 at line 1\); save the file as UTF-8"),
    ("not-utf-8-later-line", (b"experiment: waveshaper", b"experiment: \xff"),
     r"not UTF-8 text \(byte 0xff at line \d+\); save the file as UTF-8"),
    ("duplicate-key", (b"  epochs: 60\n", b"  epochs: 60\n  epochs: 6\n"),
     r"train\.epochs: duplicate key at line (\d+) \(first at line \d+\)"),
    ("duplicate-top-level-key", (b"\nmodels:", b"\nseed: 1\nmodels:"),
     r"seed: duplicate key at line \d+ \(first at line \d+\)"),
    ("duplicate-key-in-list", (b"heldout_bands_hz: [[95.0, 110.0]",
                               b"heldout_bands_hz: [{a: 1, a: 2}, [95.0, 110.0]"),
     r"data\.synth\.heldout_bands_hz\.0\.a: duplicate key at line \d+ \(first at line \d+\)"),
    ("float-without-dot", (b"learning_rate: 0.01", b"learning_rate: 1e-2"),
     r"train\.learning_rate: Input should be a valid number; YAML reads 1e-2 as text: write "
     r"1\.0e-2 \(got '1e-2'\)"),
    ("float-unsigned-exponent", (b"clock_period_ns: 10.0", b"clock_period_ns: 1.0e1"),
     r"hls\.clock_period_ns: Input should be a valid number; YAML reads 1\.0e1 as text: write "
     r"1\.0e\+1 \(got '1\.0e1'\)"),
    ("not-yaml", (b"seed: 20231012", b"seed: [1, 2"), r"not valid YAML at line \d+"),
    ("recursive-alias", (b"seed: 20231012", b"seed: &loop [*loop]"),
     r"seed: Input should be a valid integer \(got \[\[\.\.\.\]\]\)"),
    ("inf-in-a-list", (b"frequency_range_hz: [30.0, 2000.0]", b"frequency_range_hz: [30.0, .inf]"),
     r"data\.synth\.frequency_range_hz\.1: Input should be a finite number \(got inf\)"),
    ("empty-file", (None, b""), r"expected a mapping of keys to values at the top level"),
    ("list-at-top", (b"seed: 20231012", b"- seed: 20231012"),
     r"not valid YAML at line \d+"),
]

# (id, changes to params.yaml, to fixed16.yaml): values at the limits, and the shipped files.
ACCEPTED = [
    ("shipped", {}, {}),
    ("seed-largest", {"seed": 2**32 - 1}, {}),
    ("seed-zero", {"seed": 0}, {}),
    ("reuse-factor-largest", {"hls.reuse_factor": 2**32 - 1}, {}),
    ("synth-below-nyquist", {"data.synth.frequency_range_hz": [30.0, 23999.0]}, {}),
    ("sweep-below-nyquist", {"validation.sweep.frequency_range_hz": [30.0, 23999.0]}, {}),
    ("sweep-one-frame", {"validation.sweep.seconds": 2048 / 48000}, {}),
    ("hop-equal-to-frame", {"validation.stft_hop": 2048}, {}),
    ("segment-one-window", {"data.synth.segment_seconds": 512 / 48000}, {}),
    ("recorded-segment-one-window",
     {"data.source": "recorded", "data.recorded": {**RECORDED, "segment_seconds": 512 / 48000},
      "data.synth.segment_seconds": 0.001}, {}),
    ("epoch-windows-at-limit", {"train.restarts": 1, "train.steps_per_epoch": 1024,
                                "train.batch_size": 128, "train.float_twin": False}, {}),
    ("epoch-windows-at-limit-with-twin", {"train.restarts": 1, "train.steps_per_epoch": 512,
                                          "train.batch_size": 128, "train.float_twin": True},
     {}),
    ("clock-fastest", {"hls.clock_period_ns": 0.5}, {}),
    ("clock-slowest", {"hls.clock_period_ns": 1000}, {}),
    ("lsd-floor-lowest", {"validation.lsd_floor_above_rounding_noise_db": -200.0}, {}),
    ("lsd-floor-highest", {"validation.lsd_floor_above_rounding_noise_db": 200}, {}),
    ("csim-threads-most", {"validation.csim_threads": 64}, {}),
    ("part-other", {"hls.part": "xcu250-figd2104-2L-e"}, {}),
    ("model-name-with-dot", {"models": ["fixed16", "po2"]}, {}),
    ("relu-31-bits", {}, {"activation": {"type": "quantized_relu", "bits": 31, "integer": 4}}),
    ("po2-kernel-fixed-bias", {}, {"layers.1.kernel_quantizer": {"type": "quantized_po2",
                                                                 "bits": 4, "max_value": 1.0},
                                   "layers.1.bias_quantizer": {"type": "quantized_bits",
                                                               "bits": 8, "integer": 2}}),
]

AP_TYPES = ["ap_fixed<12,4,AP_RND_CONV,AP_SAT>", "ap_ufixed<8,0>", "ap_int<1024>", "ap_uint<1>",
            "ap_fixed<16,-2>", "ap_fixed<8,12>", "ap_fixed<18,8,AP_TRN,AP_WRAP,2>",
            "ap_fixed<16, 6, AP_RND_ZERO, AP_SAT_SYM>"]


@pytest.fixture
def write(tmp_path):
    """Write params.yaml (changed) and configs/models/ (fixed16 changed, the rest as shipped);
    return a loader that calls `load_configs` as the stages do."""

    def write_files(params: dict | bytes, model: dict | None = None):
        models = tmp_path / "configs" / "models"
        models.mkdir(parents=True, exist_ok=True)
        for shipped in (ROOT / "configs" / "models").glob("*.yaml"):
            (models / shipped.name).write_bytes(shipped.read_bytes())
        model_path = models / "fixed16.yaml"
        model_path.write_text(yaml.safe_dump(model if model is not None else FIXED16,
                                             sort_keys=False))
        params_path = tmp_path / "params.yaml"
        if isinstance(params, bytes):
            params_path.write_bytes(params)
        else:
            params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        return params_path, model_path, lambda: load_configs(params_path, models)

    return write_files


def refused(load, path, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load()
    text = str(caught.value)
    assert "\n" not in text
    assert re.fullmatch(f"{re.escape(str(path))}: {message}", text), text


@pytest.mark.parametrize(("changes", "message"), [row[1:] for row in PARAM_ERRORS],
                         ids=[row[0] for row in PARAM_ERRORS])
def test_bad_params(write, changes, message):
    params_path, _, load = write(changed(PARAMS, changes))
    refused(load, params_path, message)


@pytest.mark.parametrize(("changes", "message"), [row[1:] for row in MODEL_ERRORS],
                         ids=[row[0] for row in MODEL_ERRORS])
def test_bad_model_configs(write, changes, message):
    _, model_path, load = write(changed(PARAMS, {}), changed(FIXED16, changes))
    refused(load, model_path, message)


@pytest.mark.parametrize(("replace", "message"), [row[1:] for row in RAW_ERRORS],
                         ids=[row[0] for row in RAW_ERRORS])
def test_bad_yaml(write, replace, message):
    old, new = replace
    text = (ROOT / "params.yaml").read_bytes()
    assert old is None or old in text
    params_path, _, load = write(new if old is None else text.replace(old, new))
    refused(load, params_path, message)


def test_duplicate_key_names_both_lines(write):
    text = (ROOT / "params.yaml").read_bytes()
    first = text[:text.index(b"  epochs: 60")].count(b"\n") + 1
    params_path, _, load = write(text.replace(b"  epochs: 60\n", b"  epochs: 60\n  epochs: 6\n"))
    refused(load, params_path, rf"train\.epochs: duplicate key at line {first + 1} \(first at "
                               rf"line {first}\)")


def test_missing_config_named_on_the_command_line(write):
    params_path, model_path, _ = write(changed(PARAMS, {}))
    models = model_path.parent
    with pytest.raises(ConfigError) as caught:
        load_configs(params_path, models, ["po3"])
    assert str(caught.value) == (f"{models / 'po3.yaml'}: no such model config (model configs "
                                 f"in {models}: {SHIPPED_CONFIGS})")


def test_the_shipped_configs_load():
    params, configs = load_configs(ROOT / "params.yaml", ROOT / "configs" / "models")
    assert [config.name for config in configs] == params.models


def value_at(data, dotted: str):
    for key in dotted.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


@pytest.mark.parametrize(("params", "model"), [row[1:] for row in ACCEPTED],
                         ids=[row[0] for row in ACCEPTED])
def test_edge_values_are_accepted(write, params, model):
    _, _, load = write(changed(PARAMS, params), changed(FIXED16, model))
    loaded, configs = load()
    for dotted, value in params.items():
        assert value_at(loaded.model_dump(exclude_unset=True), dotted) == value
    for dotted, value in model.items():
        assert value_at(configs[0].model_dump(exclude_unset=True), dotted) == value
    assert [config.name for config in configs] == loaded.models


def test_a_byte_order_mark_is_accepted(write):
    _, _, load = write(b"\xef\xbb\xbf" + (ROOT / "params.yaml").read_bytes())
    assert load()[0].seed == PARAMS["seed"]


def test_accepted_hls_types_are_ones_hls4ml_reads(write):
    """Every precision the config accepts is parsed by hls4ml's own converter into the
    same width and integer bits."""
    import hls4ml

    backend = hls4ml.backends.get_backend("Vitis")
    for text in AP_TYPES:
        _, _, load = write(changed(PARAMS, hls_layer(result=text, accum=text)))
        layer = load()[0].hls.layers["qconv_0"]
        precision = backend.convert_precision_string(layer.result)
        fields = text[text.index("<") + 1:-1].split(",")
        assert precision.width == int(fields[0])
        assert precision.integer == int(fields[1] if "fixed" in text else fields[0])
        assert precision.signed == ("_u" not in text)


# ---------------------------------------------------------------- a stage, end to end


def run_stage(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    """A stage in a subprocess, tracking to a sqlite file in tmp_path/store (never the
    project's store)."""
    (tmp_path / "store").mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/store/mlflow.db"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env)


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(("changes", "message"), [
    ({"seed": 2**32}, r"seed: must be below 2\^32 .* \(got 4294967296\)"),
    ({"data.synth.segment_seconds": 0.01},
     rf"data\.synth\.segment_seconds: 480 samples at data\.sample_rate 48000, {WINDOW} "
     r"\(got 0\.01\)"),
], ids=["seed", "segment-shorter-than-window"])
def test_train_stage_stops_with_one_line_before_any_work(tmp_path, changes, message):
    """The dataset folder does not exist: the config error comes before any data is read,
    and nothing is written, not even an MLflow store."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(changed(PARAMS, changes), sort_keys=False))
    before = files_under(tmp_path)
    result = run_stage(["pipeline.stages.train", "fixed16", "--params", str(params),
                        "--models-dir", str(ROOT / "configs" / "models"),
                        "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "out"),
                        "--metrics", str(tmp_path / "metrics.json"),
                        "--root", str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(f"error: {re.escape(str(params))}: {message}", line), line
    assert files_under(tmp_path) == sorted([*before, "store"])
    assert list((tmp_path / "store").iterdir()) == []


def test_report_stage_names_a_missing_model_config(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(changed(PARAMS, {"models": ["fixed16", "po3"]})))
    models = ROOT / "configs" / "models"
    result = run_stage(["pipeline.stages.report", "--params", str(params), "--models-dir",
                        str(models), "--metrics", str(tmp_path / "metrics"),
                        "--out", str(tmp_path / "reports")], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {params}: models.1: {models / 'po3.yaml'} does not exist (model configs in "
        f"{models}: {SHIPPED_CONFIGS}) (got 'po3')"]
    assert files_under(tmp_path) == ["params.yaml", "store"]
