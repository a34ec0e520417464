"""MLflow tracking: one run per trained model config and one per validated design, so
quantisation schemes can be compared side by side in the MLflow UI. `store` opens, finds and
ends runs; `record` says what goes into them."""

from pipeline.tracking.record import (
    cost_params,
    dataset_hash,
    flatten,
    git_commit,
    log_history,
    log_params,
    run_params,
)
from pipeline.tracking.store import (
    MODEL_HASH_TAG,
    file_sha256,
    model_run,
    process_tags,
    start_design_run,
    start_run,
    tracking_uri,
)

__all__ = ["MODEL_HASH_TAG", "cost_params", "dataset_hash", "file_sha256", "flatten",
           "git_commit", "log_history", "log_params", "model_run", "process_tags",
           "run_params", "start_design_run", "start_run", "tracking_uri"]
