"""validate: the HLS design against the Keras model, the fixed-point reference and the target.

Runs the HLS C simulation (g++), the QKeras model and the fixed-point reference over every
test segment and a long sweep (`pipeline.data.synth.sweep`), each from reset. Writes
`metrics/<model>.json` (`pipeline.evaluate.validation.compare`, plus the hls stage's testbench
and cost figures), four plots in `plots/<model>/` and short excerpts to listen to in
`audio/<model>/`: input (the core wave), target, QKeras and HLS output of the start of the
sweep and of the first test segment. The report stage logs them to the design's MLflow run.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pipeline.config import load_params
from pipeline.data import synth
from pipeline.data.dataset import load_split, write_listening_wav
from pipeline.errors import PipelineError, run_stage
from pipeline.evaluate import plots, validation
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import read_weights
from pipeline.hls.simulation import CSimulation
from pipeline.inputs import read_figures
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "validate"
PLOTS = ("waveforms.png", "spectrograms.png", "error.png", "embedding_grid.png")
# A DVC plots folder cannot hold a marker file (DVC renders every file in it), so the stage
# recognises an earlier output of its own by holding nothing but these plots.
OWN_PLOTS = frozenset(PLOTS)
AUDIO_KINDS = ("input", "target", "keras", "hls")
EXCERPT_SECONDS = 1.0


def main() -> None:
    args = model_arguments(__doc__, {"models": "models", "exports": "exports",
                                     "hls-projects": "hls_projects", "data": "data/dataset"},
                           {"hls-metrics": "metrics/hls/{model}.json",
                            "metrics": "metrics/{model}.json", "plots": "plots/{model}",
                            "audio": "audio/{model}"})
    metrics_path, plots_dir = args.metrics, args.plots
    model_path = args.models / args.model / "model.h5"
    weights = args.exports / args.model / "weights.json"
    project_dir = args.hls_projects / args.model
    hls_metrics = args.hls_metrics
    check_output(plots_dir, STAGE, OWN_PLOTS)
    check_output(args.audio, STAGE)
    check_file_output(metrics_path)
    for path, stage in ((model_path, "train"), (weights, "export"), (project_dir, "hls")):
        if not path.exists():
            raise PipelineError(f"{path}: missing (run the {stage} stage first)")
    hls_figures = read_figures(hls_metrics, "hls")

    params = load_params(args.params)
    config, rate = params.validation, params.data.sample_rate
    exported = read_weights(weights)
    n_in, n_out = exported.layers[0].in_channels, exported.layers[-1].out_channels
    skip = exported.receptive_field - 1
    test = load_split(args.data, "test")
    sweep = synth.sweep(config.sweep, rate, params.data.synth.band_limit)
    signals = [*test.inputs, sweep.inputs]

    with ThreadPoolExecutor(max_workers=1) as pool:
        # g++ builds the C simulation (about 9 s) while TensorFlow loads (about 8 s).
        building = pool.submit(CSimulation, project_dir, params.hls.project_name, n_in, n_out)
        from pipeline.train import inference
        from pipeline.train.model import load_model

        model = load_model(model_path)
        keras = inference.predict_segments(model, signals)
        reference = FixedPointReference(exported)
        references = [reference.run(x) for x in signals]
        simulation = building.result()
    hls = simulation.run_all(signals, config.csim_threads)
    outputs = {name: validation.Outputs(values[:-1], values[-1])
               for name, values in (("hls", hls), ("keras", keras), ("reference", references))}
    output_lsb = 2.0**-reference.output_frac
    metrics = validation.compare(test, sweep, outputs, skip, output_lsb, config)
    metrics["parameters"] = sum(layer.kernel.size + layer.bias.size
                                for layer in exported.layers)
    metrics.update(hls_figures)

    title = args.model
    with staged_directory(plots_dir, STAGE, OWN_PLOTS) as staging:
        plots.sweep_waveforms(staging / PLOTS[0], sweep.target, keras[-1][:, 0], hls[-1][:, 0],
                              sweep.frequency_hz, rate, title)
        plots.spectrograms(staging / PLOTS[1], sweep.target, hls[-1][:, 0], rate,
                           config.stft_n_fft, config.stft_hop, metrics["lsd_floor"], title)
        plots.error_over_time(staging / PLOTS[2], sweep.target, keras[-1][:, 0], hls[-1][:, 0],
                              output_lsb, rate, skip, title)
        plots.embedding_grid(
            lambda batch: np.stack(simulation.run_all(list(batch), config.csim_threads)),
            staging / PLOTS[3], rate, skip + 1, f"{title} (HLS C simulation)")
    with staged_directory(args.audio, STAGE) as staging:
        excerpts = {"sweep": (sweep.inputs, sweep.target, keras[-1], hls[-1]),
                    "test": (test.inputs[0], test.targets[0], keras[0], hls[0])}
        length = round(EXCERPT_SECONDS * rate)
        for name, waves in excerpts.items():
            for kind, wave in zip(AUDIO_KINDS, waves, strict=True):
                channel = np.asarray(wave)[:length]
                write_listening_wav(staging / f"{name}_{kind}.wav",
                          channel if channel.ndim == 1 else channel[:, 0], rate)
    write_json_atomic(metrics_path, metrics)
    print(f"validate {args.model}: {metrics['samples']} samples; HLS vs reference "
          f"{metrics['hls_vs_reference_mismatches']} differing words; HLS vs Keras MSE "
          f"{metrics['hls_vs_keras_mse']:.3g}, LSD {metrics['hls_vs_keras_lsd']:.3g}; ESR "
          f"corners {metrics['esr_corners']:.4f}, edges {metrics['esr_edges']:.4f}")


if __name__ == "__main__":
    run_stage(main)
