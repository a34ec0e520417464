"""The quantised model as integer words: the IR every backend reads (`ir`), its rules
(`rules`: accumulator width, receptive field, products per sample; `folding`), fixed-point
words (`words`), the bit-exact streaming reference, the QKeras reader, the weight files, the
equivalence with QKeras and the analytic cost model. Imports no TensorFlow until a Keras
model is read."""
