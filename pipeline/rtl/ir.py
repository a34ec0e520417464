"""Everything the RTL backend takes from the rest of the project, in one place: the exported
model (the IR), the bit-exact reference that fixes every width, and the folding rule. When
these modules move, only this file changes."""

from pipeline.export import ExportedModel, Po2Format, read_weights
from pipeline.folding import Fold, FoldError, fold_for_passes, fold_for_rate
from pipeline.reference import FixedPointReference, ReferenceConv

__all__ = ["ExportedModel", "FixedPointReference", "Fold", "FoldError", "Po2Format",
           "ReferenceConv", "fold_for_passes", "fold_for_rate", "read_weights"]
