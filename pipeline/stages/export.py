"""export: one trained model's integer weights, checked against its QKeras model.

Writes `exports/<model>/` (`weights.json`, the documented weight file, and `weights.h`, the
same integers for C/C++) and `metrics/export/<model>.json`: per layer, the fixed-point
reference's saturation and overflow counts on the test split, and the words in which it
differs from QKeras (TensorFlow's float32 sums; see pipeline/fixed/equivalence.py), and the output
word chosen for a linear last layer (sized from the test split) with whether it can
saturate. The same figures go to the model's MLflow run (`pipeline.tracking.model_run`).
"""

from mlflow.tracking import MlflowClient

from pipeline import tracking
from pipeline.config import load_params
from pipeline.data.dataset import load_split
from pipeline.errors import run_stage
from pipeline.fixed.equivalence import compare
from pipeline.fixed.header import header_text
from pipeline.fixed.output import output_range, size_output
from pipeline.fixed.reader import from_qkeras
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import write_weights
from pipeline.outputs import check_file_output, check_output, staged_directory, write_json_atomic
from pipeline.stages.common import model_arguments

STAGE = "export"


def reference_summary(comparisons: list) -> dict[str, float]:
    """The training run's figures of the reference against QKeras, over every layer
    (`pipeline.tracking.vocabulary.TRAINING`)."""
    return {"reference_saturations": float(sum(c.saturations for c in comparisons)),
            "reference_overflows": float(sum(c.overflows for c in comparisons)),
            "reference_differing_words": float(sum(c.differing for c in comparisons)),
            "reference_max_lsb": float(max((c.max_lsb for c in comparisons), default=0.0))}


def main() -> None:
    args = model_arguments(__doc__, {"models": "models", "data": "data/dataset"},
                           {"out": "exports/{model}", "metrics": "metrics/export/{model}.json"},
                           mlflow=True)
    out, metrics_path = args.out, args.metrics
    model_path = args.models / args.model / "model.h5"
    check_output(out, STAGE)
    check_file_output(metrics_path)
    experiment = load_params(args.params).tracking.experiment

    from pipeline.train.model import load_model  # TensorFlow loads here, after the checks

    model = load_model(model_path)
    exported = from_qkeras(model)  # refuses what the datapath cannot represent
    test = load_split(args.data, "test")
    # The test split calibrates a linear output word (pipeline.fixed.output.size_output).
    exported = size_output(exported.name, exported.input_format, exported.layers,
                                  test.inputs)
    reference = FixedPointReference(exported)
    comparisons = compare(model, reference, test.inputs)
    output = output_range(exported)
    metrics = {"test_samples": sum(len(x) for x in test.inputs), **output.metrics()}
    for comparison in comparisons:
        name = comparison.name
        metrics.update({f"{name}_saturations": comparison.saturations,
                        f"{name}_overflows": comparison.overflows,
                        f"{name}_words": comparison.words,
                        f"{name}_differing_words": comparison.differing,
                        f"{name}_differing_words_forced": comparison.differing_forced,
                        f"{name}_max_lsb": comparison.max_lsb,
                        f"{name}_max_lsb_forced": comparison.max_lsb_forced,
                        f"{name}_at_risk_words": comparison.at_risk})
        if comparison.unexplained is not None:
            metrics[f"{name}_unexplained_words"] = comparison.unexplained

    with staged_directory(out, STAGE) as staging:
        write_weights(exported, staging / "weights.json")
        (staging / "weights.h").write_text(header_text(exported))
        with tracking.model_run(args.root, experiment, args.model, model_path,
                                STAGE) as run_id:
            # The whole model's figures, under the vocabulary's names; per layer they are in
            # the metrics file (an artifact).
            client = MlflowClient()
            for key, value in reference_summary(comparisons).items():
                client.log_metric(run_id, key, value)
            client.log_artifacts(run_id, str(staging), artifact_path="export")
    write_json_atomic(metrics_path, metrics)
    print(f"export {args.model}: {len(exported.layers)} layers to {out}; test split: "
          f"{sum(c.saturations for c in comparisons)} saturated and "
          f"{sum(c.overflows for c in comparisons)} overflowed words; "
          f"{sum(c.differing for c in comparisons)} words differ from QKeras (float32 sums); "
          f"{output.message()}")


if __name__ == "__main__":
    run_stage(main)
