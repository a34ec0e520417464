"""Everything the RTL backend takes from the rest of the project, in one place: the exported
model (the IR), the bit-exact reference that fixes every width, and the folding rule. When
these modules move, only this file changes."""

from pipeline.export import ConvLayer, ExportedModel, Po2Format, read_weights
from pipeline.fixedpoint import FixedFormat, requantize
from pipeline.folding import LAYER_OVERHEAD_CYCLES, Fold, FoldError, fold_for_passes, fold_for_rate
from pipeline.reference import FixedPointReference, ReferenceConv

__all__ = ["LAYER_OVERHEAD_CYCLES", "ConvLayer", "ExportedModel", "FixedFormat",
           "FixedPointReference", "Fold", "FoldError", "Po2Format", "ReferenceConv",
           "fold_for_passes", "fold_for_rate", "read_weights", "requantize"]
