"""validate: the HLS design against the Keras model, the fixed-point reference and the target.

Runs the HLS C simulation (g++), the QKeras model and the fixed-point reference over every
test segment and a long sweep (`pipeline.data.synth.sweep`), each from reset. Writes
`metrics/<model>.json` (`pipeline.evaluate.validation.compare`, plus the hls stage's testbench
and cost figures) and four plots in `plots/<model>/`, and logs both to a run nested under the
model's MLflow training run (`pipeline.tracking.start_design_run`).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np

from pipeline.config import load_params
from pipeline.data import synth
from pipeline.data.dataset import load_split
from pipeline.errors import PipelineError, run_stage
from pipeline.evaluate import plots, validation
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import read_weights
from pipeline.hls.simulation import CSimulation
from pipeline.inputs import load_model, read_figures
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "validate"
PLOTS = ("waveforms.png", "spectrograms.png", "error.png", "embedding_grid.png")
# A DVC plots folder cannot hold a marker file (DVC renders every file in it), so the stage
# recognises an earlier output of its own by holding nothing but these plots.
OWN_PLOTS = frozenset(PLOTS)


def main() -> None:
    args = model_arguments(__doc__, {"models": "models", "exports": "exports",
                                     "hls-projects": "hls_projects", "data": "data/dataset"},
                           {"hls-metrics": "metrics/hls/{model}.json",
                            "metrics": "metrics/{model}.json", "plots": "plots/{model}"},
                           mlflow=True)
    metrics_path, plots_dir = args.metrics, args.plots
    model_path = args.models / args.model / "model.h5"
    weights = args.exports / args.model / "weights.json"
    project_dir = args.hls_projects / args.model
    hls_metrics = args.hls_metrics
    check_output(plots_dir, STAGE, OWN_PLOTS)
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
        from pipeline import tracking
        from pipeline.train import inference
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
        plots.spectrograms(staging / PLOTS[1], keras[-1][:, 0], hls[-1][:, 0], rate,
                           config.stft_n_fft, config.stft_hop, metrics["lsd_floor"], title)
        plots.error_over_time(staging / PLOTS[2], sweep.target, keras[-1][:, 0], hls[-1][:, 0],
                              output_lsb, rate, skip, title)
        plots.embedding_grid(
            lambda batch: np.stack(simulation.run_all(list(batch), config.csim_threads)),
            staging / PLOTS[3], rate, skip + 1, f"{title} (HLS C simulation)")
        design = {**tracking.flatten("hls", params.hls.model_dump(mode="json")),
                  **tracking.flatten("validation", config.model_dump(mode="json"))}
        run_name = f"{args.model} {os.environ.get('DVC_EXP_NAME', 'workspace')} design"
        with tracking.start_design_run(args.root,
                                       params.tracking.experiment, args.model, model_path,
                                       run_name, design):
            # Lists (one figure per layer, such as reuse_factors) go in the metrics file only.
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()
                                if not isinstance(value, list) and np.isfinite(value)})
            mlflow.log_artifacts(str(staging), artifact_path="validate")
            mlflow.log_artifact(str(project_dir / "README.md"), artifact_path="hls")
    write_json_atomic(metrics_path, metrics)
    print(f"validate {args.model}: {metrics['samples']} samples; HLS vs reference "
          f"{metrics['hls_vs_reference_mismatches']} differing words; HLS vs Keras MSE "
          f"{metrics['hls_vs_keras_mse']:.3g}, LSD {metrics['hls_vs_keras_lsd']:.3g}; ESR "
          f"corners {metrics['esr_corners']:.4f}, edges {metrics['esr_edges']:.4f}")


if __name__ == "__main__":
    run_stage(main)
