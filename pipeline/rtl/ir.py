"""Everything the RTL backend takes from the rest of the project, in one place: the exported
model (the IR), the bit-exact reference that fixes every width, and the folding rule."""

from pipeline.fixed.folding import Fold, layer_folds
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.reference import FixedPointReference, ReferenceConv
from pipeline.fixed.weights import read_weights
from pipeline.fixed.words import Po2Format, word_range

__all__ = ["ExportedModel", "FixedPointReference", "Fold", "Po2Format", "ReferenceConv",
           "layer_folds", "read_weights", "word_range"]
