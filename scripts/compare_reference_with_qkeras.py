import sys, re, numpy as np, tensorflow as tf
from pathlib import Path
from qkeras.utils import load_qmodel
from pipeline.export import from_qkeras
from pipeline.reference import FixedPointReference
from pipeline.dataset import load_split
import os
if os.environ.get("F64"): tf.keras.backend.set_floatx("float64")
m = load_qmodel(sys.argv[1], compile=False)
ex = from_qkeras(m); ref = FixedPointReference(ex)
def out_of(l):
    if l.activation is None: return m.get_layer(l.name).output
    return m.get_layer(re.sub(r"qconv_(\d+)[ab]?$", r"qact_\1", l.name)).output
probe = tf.keras.Model(m.input, [m.get_layer("input_q").output] + [out_of(l) for l in ex.layers])
te = load_split(Path("data/dataset"), "test")
e2e = np.zeros(len(ex.layers), int); forced = np.zeros(len(ex.layers), int); n = np.zeros(len(ex.layers), int)
for x in te.inputs[:4]:
    kouts = [o.numpy()[0].astype(np.float64) for o in probe(x[None].astype(tf.keras.backend.floatx()))]
    words = ref.run_words(x)
    kin = kouts[0] * 2.0**ref.input_format.frac
    assert np.array_equal(kin, words[0])
    prev_frac = ref.input_format.frac
    for i, l in enumerate(ref.layers):
        kw = kouts[i + 1] * 2.0**l.out_frac
        e2e[i] += np.count_nonzero(kw != words[i + 1]); n[i] += kw.size
        l.reset(); fw = l.run(np.round(kouts[i] * 2.0**prev_frac).astype(np.int64))
        forced[i] += np.count_nonzero(kw != fw)
        prev_frac = l.out_frac
print([l.name for l in ex.layers]); print("e2e", e2e.tolist()); print("forced", forced.tolist()); print("n", n.tolist())
