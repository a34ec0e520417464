"""MLflow tracking: one run per trained model config and one per design (a model with one set of
hardware settings), so quantisation schemes can be compared side by side in the MLflow UI.
`store` opens, finds and ends runs; `record` says what goes into them, `vocabulary` under
which names; `design` writes a design run from the pipeline's files; `views` saves the
experiment's views of them."""

from pipeline.tracking.record import (
    as_params,
    cost_params,
    dataset_hash,
    flatten,
    git_commit,
    log_history,
    log_model,
    model_params,
    training_params,
)
from pipeline.tracking.store import (
    DESIGN,
    KIND_TAG,
    MODEL_HASH_TAG,
    TRAINING,
    design_run,
    experiment_id,
    file_sha256,
    find_design_run,
    find_model_run,
    model_run,
    process_tags,
    start_run,
    tracking_uri,
)

__all__ = ["DESIGN", "KIND_TAG", "MODEL_HASH_TAG", "TRAINING", "as_params", "cost_params",
           "dataset_hash", "design_run", "experiment_id", "file_sha256", "find_design_run",
           "find_model_run", "flatten", "git_commit", "log_history", "log_model",
           "model_params", "model_run", "process_tags", "start_run", "tracking_uri",
           "training_params"]
