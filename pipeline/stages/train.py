"""train: train one model config on the dataset and track the run in MLflow.

Writes `models/<name>/` (the QKeras model, its config, history and figures) and
`metrics/train/<name>.json` (test figures, every restart's test ESR and the float twin's),
and logs the same to an MLflow run named after the model, tagged with the sha256 of
`model.h5`: later stages find the run by it (`pipeline.tracking`), so the model folder holds
nothing that changes when the same weights are trained again.
"""

import argparse
import shutil
from pathlib import Path

import numpy as np
import yaml

from pipeline.config import ModelConfig, Params, load_configs, model_config_path
from pipeline.data.dataset import load_split, write_listening_wav
from pipeline.data.shapes import SPLITS
from pipeline.errors import run_stage
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "train"


def main() -> None:
    args = model_arguments(__doc__, {"models-dir": "configs/models", "data": "data/dataset"},
                           {"out": "models/{model}", "metrics": "metrics/train/{model}.json"},
                           mlflow=True)
    # Both configs, checked against each other, before any data is read.
    params, (model_config,) = load_configs(args.params, args.models_dir, [args.model])
    check_output(args.out, STAGE)
    check_file_output(args.metrics)
    train_and_record(args, params, model_config)


def train_and_record(args: argparse.Namespace, params: Params, model_config: ModelConfig) -> None:
    """Train, evaluate and save the model, and log its MLflow run. TensorFlow, QKeras and
    MLflow are imported here, after the configs were checked: they take 5 to 15 s, and a
    bad config is answered without them."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from pipeline import tracking
    from pipeline.evaluate import plots
    from pipeline.fixed.reader import from_qkeras
    from pipeline.train import inference, training
    from pipeline.train.layers import custom_objects
    from pipeline.train.model import save_model

    out, metrics_path = args.out, args.metrics
    config_path = model_config_path(args.models_dir, args.model)
    train_data, validation_data, test_data = (load_split(Path(args.data), s) for s in SPLITS)
    skip = model_config.receptive_field - 1
    rate = params.data.sample_rate
    training.check_window(model_config, params.train, train_data)

    with tracking.start_run(args.root, params.tracking.experiment, model_config.name, STAGE,
                            tags={"model": model_config.name}) as run:
        run_id = run.info.run_id
        client = MlflowClient()
        client.log_batch(run_id, params=tracking.as_params(
            tracking.training_params(model_config, params)))
        mlflow.set_tags({"git_commit": tracking.git_commit(args.root),
                         "dataset_dvc_md5": tracking.dataset_hash(str(args.data), args.root)})
        result = training.train(model_config, params.train, train_data, validation_data,
                                params.seed, float_twin=params.train.float_twin)
        tracking.log_history(run_id, result)
        client.log_batch(run_id, params=tracking.as_params(
            tracking.cost_params(from_qkeras(result.model))))
        summary = inference.evaluate(result.model, test_data, skip)
        summary.update(inference.restart_spread(result, test_data, skip,
                                                   summary["esr_corners"]))
        if result.float_twin is not None:
            twin = inference.evaluate(result.float_twin.model, test_data, skip)
            summary.update(float_esr_corners=twin["esr_corners"],
                           float_esr_edges=twin["esr_edges"])
        summary.update(best_epoch=result.best_epoch,
                       best_val_esr=float(result.history["val_esr"][result.best_epoch]),
                       epochs_run=len(result.history["loss"]), chosen_restart=result.chosen)
        mlflow.log_metrics({k: v for k, v in summary.items() if np.isfinite(v)})
        example = test_data.inputs[0][np.newaxis, :model_config.receptive_field * 2]
        tracking.log_model(result.model, example.astype(np.float32), custom_objects())

        with staged_directory(out, STAGE) as staging:
            save_model(result.model, staging / "model.h5")
            shutil.copy(config_path, staging / "model_config.yaml")
            (staging / "params.yaml").write_text(yaml.safe_dump(
                params.model_dump(mode="json"), sort_keys=False))
            keys = training.HISTORY_KEYS
            rows = ["epoch," + ",".join(keys)] + [
                f"{epoch}," + ",".join(repr(float(result.history[k][epoch])) for k in keys)
                for epoch in range(len(result.history["loss"]))]
            (staging / "history.csv").write_text("\n".join(rows) + "\n")
            plots.training_curves(result.history, staging / "training_curves.png",
                                  f"{model_config.name}: training")
            plots.embedding_grid(lambda batch: result.model.predict(batch, verbose=0),
                                 staging / "embedding_grid.png", rate,
                                 model_config.receptive_field, model_config.name)
            (staging / "examples").mkdir()
            for shape, wave in plots.corner_examples(result.model, rate,
                                                     model_config.receptive_field).items():
                write_listening_wav(staging / "examples" / f"{shape}.wav", wave, rate)
            # At the top level, where MLflow's compare view finds them; the model itself is
            # the MLflow model logged above, not a bare .h5.
            for path in sorted([*staging.iterdir(), *(staging / "examples").iterdir()]):
                if path.is_file() and path.name != "model.h5":
                    mlflow.log_artifact(str(path))
            mlflow.set_tag(tracking.MODEL_HASH_TAG, tracking.file_sha256(staging / "model.h5"))
        write_json_atomic(metrics_path, summary)
    print(f"train {model_config.name}: test split esr_corners {summary['esr_corners']:.4f}, "
          f"esr_edges {summary['esr_edges']:.4f}")


if __name__ == "__main__":
    run_stage(main)
