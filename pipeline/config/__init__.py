"""Typed configuration: `params.yaml` (data, training, tracking, hardware, validation) and
`configs/models/*.yaml`, validated once at the edge into frozen objects. The library takes
these objects, never raw dicts; every problem is one line naming the file and the field,
before any work is done.

`models` (a model config), `data`, `hardware` and `params` (the sections of params.yaml) hold
the classes; `files` reads the YAML.
"""

from pipeline.config.data import DataConfig, RecordedConfig, SplitFractions, SynthConfig
from pipeline.config.explore import ExploreConfig, SearchSpace
from pipeline.config.files import (
    describe,
    load_configs,
    load_model_config,
    load_params,
    model_config_path,
)
from pipeline.config.hardware import HlsConfig, HlsLayerConfig, RtlConfig
from pipeline.config.models import (
    Activation,
    LayerConfig,
    Linear,
    ModelConfig,
    QuantizedBits,
    QuantizedPo2,
    QuantizedRelu,
)
from pipeline.config.params import (
    Params,
    SweepConfig,
    TrackingConfig,
    TrainConfig,
    ValidationConfig,
    training_window,
)

__all__ = [
    "Activation", "DataConfig", "ExploreConfig", "HlsConfig", "HlsLayerConfig", "LayerConfig",
    "Linear", "ModelConfig", "Params", "QuantizedBits", "QuantizedPo2", "QuantizedRelu",
    "RecordedConfig", "RtlConfig", "SearchSpace", "SplitFractions", "SweepConfig",
    "SynthConfig", "TrackingConfig", "TrainConfig", "ValidationConfig", "describe",
    "load_configs", "load_model_config", "load_params", "model_config_path", "training_window",
]
