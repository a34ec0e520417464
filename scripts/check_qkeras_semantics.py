"""Check numpy re-implementations of QKeras 0.9.0 quantizers against the installed QKeras.

Run: .venv/bin/python scripts/check_qkeras_semantics.py
"""
import ctypes
import ctypes.util
import os

import numpy as np

# TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is imported, and the thread settings must be
# applied before QKeras is imported, so the TensorFlow / QKeras imports below cannot move up.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
np.seterr(all='ignore')

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402  (must follow the TF_CPP_MIN_LOG_LEVEL setting above)

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from qkeras import (  # noqa: E402  (must follow the TensorFlow setup above)
    QActivation,
    quantized_bits,
    quantized_po2,
    quantized_relu,
)

from pipeline.train.layers import CausalQConv1D  # noqa: E402

F = np.float32
TINY = F(2.0 ** -126)  # smallest normal float32


def ftz(v):
    """TF on CPU runs with flush-to-zero / denormals-are-zero: denormal results become 0."""
    v = np.asarray(v, F)
    return np.where(np.abs(v) < TINY, F(0), v).astype(F)


def kpow2_int(n):
    """K.pow(2, n) with Python ints is an int32 tf.pow: wraps for n >= 31
    (2**31 -> -2**31, 2**32 -> 0)."""
    return F(np.array(2 ** n, np.int64).astype(np.int32))


def round_through(p):
    """QKeras _round_through: p + stop_gradient(-p + tf.round(p)); == np.round(p) for finite p,
    NaN for +-inf (inf + (-inf + inf))."""
    return ftz(p + ftz(np.round(p) - p))


def ste(x, xq):
    """QKeras output: x + stop_gradient(1.0 * (-x + xq)), evaluated in float32."""
    x = ftz(x)
    return ftz(x + ftz(xq - x))


# ------------------------------------------------------------------ numpy references
def np_quantized_bits(x, bits, integer, keep_negative=True, symmetric=0):
    """quantized_bits(bits, integer, symmetric, keep_negative, alpha=1 or None) - exact."""
    x = ftz(np.asarray(x, F))
    ub = bits - int(keep_negative)
    m = F(2.0 ** ub)                 # python pow -> float32, no overflow
    m_i = kpow2_int(integer)          # int32 pow: == 2**integer for integer <= 30
    if ub > 0:
        p = (x * m) / m_i
        lo = F(int(keep_negative) * (-m + F(symmetric)))
        hi = F(m - F(1))          # float32: for ub >= 25 this rounds up to m
        q = np.clip(round_through(p), lo, hi)     # np.round == tf.round: half to even
        xq = (m_i * q) / m
    else:
        s = np.sign(x)
        xq = s + (F(1) - np.abs(s))
        if not keep_negative:
            xq = (xq + F(1)) / F(2)
    return ste(x, xq.astype(F))


def np_quantized_relu(x, bits, integer):
    """quantized_relu(bits, integer) with default args (use_sigmoid=0, negative_slope=0,
    is_quantized_clip=True) - exact (bits=32 gives all-NaN in QKeras too)."""
    x = ftz(np.asarray(x, F))
    m = kpow2_int(bits)               # int32 pow: bits=31 -> -2**31, bits=32 -> 0 (all-NaN output)
    m_i = kpow2_int(integer)
    m_f = F(2.0 ** (integer - bits))
    top = F(m_i - m_f)                      # float32 (== m_i when bits >= 25)
    x_u = np.where(x <= top, np.maximum(x, F(0)), top).astype(F)
    p = (x * m) / m_i
    xq = m_i * np.clip(round_through(p) / m, F(0), F(F(1) - F(1) / m))
    return ste(x_u, xq.astype(F))


def po2_exponents(bits, max_value):
    need_sign = 1 if (max_value is None or max_value > 1) else 0
    eff = bits - 1 - need_sign
    return -2 ** eff, 2 ** eff - 1


_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_LIBM.logf.restype = ctypes.c_float
_LIBM.logf.argtypes = [ctypes.c_float]


def eigen_plog_f32(x):
    """Eigen plog_impl_float (TF 2.14 wheel: AVX Packet8f, no FMA -> every op rounded to float32).
    Valid for positive normal finite x (po2 only feeds x >= 1e-7)."""
    x = np.asarray(x, F)
    bits = x.view(np.uint32)
    e = (((bits >> 23) & 0xFF).astype(np.int32) - 126).astype(F)           # frexp exponent
    # frexp mantissa in [0.5,1)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(F)
    mask = m < F(0.707106781186547524)
    tmp = np.where(mask, m, F(0)).astype(F)
    m = m - F(1)
    e = e - np.where(mask, F(1), F(0)).astype(F)
    m = m + tmp
    p = m * F(0.18256296349849254) + F(1.0000000190281063)
    p = m * p + F(1.0000000190281136)
    p = m * p
    q = m * F(0.049616247954120038) + F(0.59923249590823520)
    q = m * q + F(1.4999999999999927)
    q = m * q + F(1)
    r = p / q
    return (e * F(0.693147180559945309417232121458176568) + r).astype(F)


def tf_log_f32(v):
    """tf.math.log on a float32 tensor on CPU (TF 2.14 wheel): elements in full 8-wide packets
    (flat C-order index < n - n % 8) use Eigen's plog; the last n % 8 elements use the scalar
    std::log = glibc logf."""
    v = np.asarray(v, F)
    flat = v.reshape(-1)
    n_vec = flat.size - flat.size % 8
    out = eigen_plog_f32(flat)
    out[n_vec:] = [_LIBM.logf(float(t)) for t in flat[n_vec:]]
    return out.reshape(v.shape)


np_log_f32 = tf_log_f32


def np_quantized_po2(x, bits, max_value=None):
    """quantized_po2(bits, max_value) with default args - exact."""
    x = ftz(np.asarray(x, F))
    min_exp, max_exp = po2_exponents(bits, max_value)
    s = np.sign(x)
    s = s + (F(1) - np.abs(s))               # sign(0) -> +1
    xa = np.abs(x)
    eps = F(1e-7)
    xf = np.where(xa < eps, eps, xa).astype(F)
    if max_value is not None:
        mv = F(max_value)
        xf = np.where(xf >= mv, mv, xf).astype(F)
    l2 = np_log_f32(xf) / F(np.log(2.0))
    e = np.clip(round_through(l2), F(min_exp), F(max_exp))
    e = np.where(xa < eps, F(min_exp), e)
    # 2**e: exact, 0 below 2**-126, inf above 2**127
    xq = s * ftz(np.exp2(e.astype(np.float64)).astype(F))
    return ste(x, xq.astype(F))


def np_quantized_bits_auto_po2(w, bits, integer):
    """quantized_bits(bits, integer) with alpha=None used as a QConv kernel_quantizer: QConv
    switches it to alpha='auto_po2', symmetric=True. Per-output-channel po2 scale (channels_last,
    scale_axis=None: reduce over all axes but the last). Reductions are float32 means, so exact
    match is expected but not guaranteed near po2-rounding thresholds."""
    w = ftz(np.asarray(w, F))
    ub = bits - 1
    m = F(2.0 ** ub)
    m_i = F(2.0 ** integer)
    axis = tuple(range(w.ndim - 1)) if w.ndim > 1 else (0,)
    x = w / m_i
    levels = F((2 ** (bits - 1) - 1) * 2)
    eps = F(1e-7)
    ln2 = F(np.log(2.0))

    def po2(s):
        return np.exp2(np.round(tf_log_f32(s + eps) / ln2).astype(np.float64)).astype(F)

    scale = po2((np.max(np.abs(x), axis=axis, keepdims=True) * F(2)) / levels)
    for _ in range(5):
        v = np.floor(np.abs(x) / scale + F(0.5))
        z = np.sign(x) * np.where(v < levels / F(2), v, levels / F(2))
        if w.ndim > 1:
            qx = np.mean((x * z).astype(np.float64), axis=axis, keepdims=True).astype(F)
            qq = np.mean((z * z).astype(np.float64), axis=axis, keepdims=True).astype(F)
        else:
            qx, qq = x * z, z * z
        scale = po2(qx / (qq + eps))
    # NB: z is from the scale *before* the last update; the output uses the updated scale.
    xq = (scale * m) * ((m_i * z) / m)
    return ste(m_i * x, xq.astype(F)), (scale * m_i).astype(F), z


# ------------------------------------------------------------------ helpers
def tf_q(q, x):
    return q(tf.constant(np.asarray(x, F))).numpy()


def mism(a, b):
    """(value mismatches, bit-pattern mismatches) ; NaN==NaN counts as equal."""
    a = np.asarray(a, F)
    b = np.asarray(b, F)
    both_nan = np.isnan(a) & np.isnan(b)
    val = int(np.sum(~((a == b) | both_nan)))
    bit = int(np.sum((a.view(np.uint32) != b.view(np.uint32)) & ~both_nan))
    return val, bit


def nb(v, n):
    """v and its n float32 neighbours on each side."""
    v = F(v)
    out = [v]
    lo = hi = v
    for _ in range(n):
        lo = np.nextafter(lo, F(-np.inf))
        hi = np.nextafter(hi, F(np.inf))
        out += [lo, hi]
    return out


rng = np.random.default_rng(0)
SPECIALS = [0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, 1.17e-38, 1e-8, -1e-8, 1e-7, 3e-7,
            1e3, -1e3, 1e5, -1e5, 7e4, 65535.99, 65536.0, 1e6, -1e6, 1e8, -1e8, 1e10, 3e38, -3e38]

report = []


def log(msg):
    print(msg, flush=True)
    report.append(msg)


def inputs_fixed(lsb, lo_q, hi_q):
    """Every half-LSB point from below lo_q-4 to above hi_q+4 LSBs (ties included), its
    float32 neighbours, randoms and specials."""
    a, b = 2 * (lo_q - 4), 2 * (hi_q + 4)
    if b - a > 3000:  # wide formats: both ends plus sampled half-points
        k = np.unique(np.concatenate([np.arange(a, a + 800), np.arange(b - 800, b + 1),
                                      rng.integers(a, b, 1400), np.arange(-200, 201)]))
        k = k.astype(np.float64)
    else:
        k = np.arange(a, b + 1, dtype=np.float64)
    pts = (k * lsb / 2).astype(F)
    vals = [pts, np.nextafter(pts, F(np.inf)), np.nextafter(pts, F(-np.inf))]
    span = max(abs(lo_q), abs(hi_q)) * lsb * 1.5
    vals.append((rng.uniform(-span, span, 1000)).astype(F))
    vals.append(np.array(SPECIALS, F))
    return np.concatenate(vals).astype(F)


# ------------------------------------------------------------------ 1. quantized_bits
log("## quantized_bits(bits, integer, keep_negative=True, alpha=1) vs numpy")
qb_cfgs = [(2, 0), (2, 1), (3, 0), (4, 0), (4, 2), (8, 0), (8, 3), (8, 7), (12, 4), (16, 0),
           (16, 5), (16, 15), (24, 3), (25, 0), (26, 3), (31, 30), (32, 0), (32, 8), (32, 31)]
tot = [0, 0, 0]
for bits, integer in qb_cfgs:
    lsb = 2.0 ** -(bits - 1 - integer)
    x = inputs_fixed(lsb, -2 ** (bits - 1), 2 ** (bits - 1) - 1)
    for kw, ref_kw in [(dict(alpha=1), {}), (dict(), {}),
                       (dict(alpha=1, symmetric=1), dict(symmetric=1)),
                       (dict(alpha=1, keep_negative=False), dict(keep_negative=False))]:
        q = quantized_bits(bits, integer, **kw)
        a = tf_q(q, x)
        b = np_quantized_bits(x, bits, integer, **ref_kw)
        v, bt = mism(a, b)
        tot[0] += x.size
        tot[1] += v
        tot[2] += bt
        if v or bt:
            idx = np.nonzero(a.view(np.uint32) != b.view(np.uint32))[0][:4]
            log(f"  MISMATCH bits={bits} int={integer} {kw}: {v} value / {bt} bit mismatches"
                f" of {x.size}"
                f" e.g. x={x[idx].tolist()} tf={a[idx].tolist()} np={b[idx].tolist()}")
log(f"  total values {tot[0]}, value mismatches {tot[1]}, bit-pattern mismatches {tot[2]}")

# sanity facts about quantized_bits
q = quantized_bits(8, 3, alpha=1)
xs = np.array([0.03125, 0.09375, -0.03125, -0.09375, 7.9375, 7.96875, 8.5, -8.0, -8.1,
               1e5, 1e6, 3e38], F)
log(f"  qb(8,3) on {xs.tolist()} -> {tf_q(q, xs).tolist()}")
q = quantized_bits(8, 0, alpha=1)
xs = np.array([1e5, 65536.0, 65537.0, 1e6, 1e8], F)
log(f"  qb(8,0) large inputs {xs.tolist()} -> {tf_q(q, xs).tolist()} (ideal 0.9921875)")

# ------------------------------------------------------------------ 2. quantized_relu
log("## quantized_relu(bits, integer) defaults vs numpy")
qr_cfgs = [(2, 0), (3, 1), (4, 0), (4, 2), (4, 4), (6, 6), (8, 0), (8, 3), (8, 8), (12, 4),
           (16, 6), (16, 0), (24, 2), (25, 2), (26, 0), (30, 4), (31, 0), (31, 5), (32, 0),
           (32, 7)]
tot = [0, 0, 0]
for bits, integer in qr_cfgs:
    lsb = 2.0 ** -(bits - integer)
    x = inputs_fixed(lsb, -8, 2 ** bits - 1)
    if integer > 0:
        x_int = inputs_fixed(lsb * 2 ** (bits - integer), -4, 2 ** integer)
        x = np.concatenate([x, x_int]).astype(F)
    q = quantized_relu(bits, integer)
    a = tf_q(q, x)
    b = np_quantized_relu(x, bits, integer)
    v, bt = mism(a, b)
    tot[0] += x.size
    tot[1] += v
    tot[2] += bt
    if v or bt:
        log(f"  MISMATCH bits={bits} int={integer}: {v} value / {bt} bit mismatches of {x.size}")
log(f"  total values {tot[0]}, value mismatches {tot[1]}, bit-pattern mismatches {tot[2]}")
q = quantized_relu(4, 2)
xs = np.array([-1.0, 0.0, 0.125, 0.375, 0.125 + 1e-7, 3.625, 3.75, 3.8125, 3.875, 100.0, 1e9], F)
log(f"  qr(4,2) on {xs.tolist()} -> {tf_q(q, xs).tolist()}")
for bits in (31, 32):
    try:
        out = tf_q(quantized_relu(bits, 0), np.array([0.25, 0.5], F)).tolist()
        log(f"  qr({bits},0) on [0.25, 0.5] -> {out}")
    except Exception as e:
        log(f"  qr({bits},0) raised {type(e).__name__}: {str(e)[:100]}")

# ------------------------------------------------------------------ 3. quantized_po2
log("## quantized_po2(bits, max_value) defaults vs numpy")
# (a) windows of float32 around every log2 rounding threshold sqrt(2)*2^k and around 2^k
thr_x = []
for k in range(-30, 30):
    for c in (np.sqrt(2.0) * 2.0 ** k, 2.0 ** k):
        thr_x += nb(c, 40)
thr_x = np.array(thr_x, F)
thr_x = np.concatenate([thr_x, -thr_x])
tf_log = tf.math.log(tf.constant(np.abs(thr_x))).numpy()
np_log = np_log_f32(np.abs(thr_x))
log(f"  float32 log: TF vs numpy tf_log_f32 bit mismatches on {thr_x.size} threshold-window "
    f"values: {mism(tf_log, np_log)[1]}")
log(f"  (for comparison, TF vs plain np.log: {mism(tf_log, np.log(np.abs(thr_x)))[1]} "
    f"bit mismatches)")
# 7-element tensors: all scalar path
chunks = np.abs(thr_x)[: (thr_x.size // 7) * 7].reshape(-1, 7)
sc_tf = np.concatenate([tf.math.log(tf.constant(c)).numpy() for c in chunks[::4]])
sc_np = np.concatenate([tf_log_f32(c) for c in chunks[::4]])
n_plog_diff = int(np.sum(eigen_plog_f32(chunks[::4].reshape(-1)) != sc_np))
log(f"  scalar-path (7-element tensors) TF vs glibc logf: {mism(sc_tf, sc_np)[1]} bit mismatches "
    f"of {sc_tf.size}; "
    f"packet-path eigen_plog vs glibc logf differ on {n_plog_diff} of them")
rx = rng.uniform(1e-7, 3.0, 200003).astype(F)
rx_mism = mism(tf.math.log(tf.constant(rx)).numpy(), tf_log_f32(rx))[1]
log(f"  random 200003 values in [1e-7,3): TF log vs tf_log_f32 bit mismatches {rx_mism}")
tf_r = (tf.math.log(tf.constant(np.abs(thr_x))) / np.log(2.0)).numpy()
np_r = np_log / F(np.log(2.0))
log(f"  log(x)/log(2) TF vs numpy bit mismatches: {mism(tf_r, np_r)[1]}")
# thresholds actually used (smallest float32 mapped to exponent k+1), vs float32 nearest sqrt(2)*2^k
bad = 0
for k in range(-24, 24):
    c = F(np.sqrt(2.0) * 2.0 ** k)
    w = np.array(nb(c, 64), F)
    w.sort()
    e = np.round(tf.math.log(tf.constant(w)).numpy() / F(np.log(2.0)))
    first = w[np.argmax(e == k + 1)]
    mono = bool(np.all(np.diff(e) >= 0))
    c64 = np.sqrt(2.0) * 2.0 ** k
    ideal = np.nextafter(F(c64), F(np.inf)) if F(c64) < c64 else F(c64)
    if first != ideal or not mono:
        bad += 1
        if not mono:
            log(f"    k={k}: TF exponent not monotone in x near threshold")
log(f"  exponent thresholds differing from 'first float32 >= sqrt(2)*2^k': {bad} of 48")

po2_cfgs = [(b, mv) for b in (2, 3, 4, 5, 6, 8, 12, 16)
            for mv in (1.0, None, 0.5, 0.3, 1.5, 4.0, 100.0)]
tot = [0, 0, 0]
for bits, mv in po2_cfgs:
    x = np.concatenate([thr_x, rng.standard_normal(500).astype(F),
                        (rng.standard_normal(500) * 1e-3).astype(F),
                        np.array([*SPECIALS, 1.0, -1.0, 0.5, 2.0, 4.0, 100.0, 1.5, 0.3,
                                  F(1e-7), -F(1e-7), np.nextafter(F(1e-7), F(0))], F)]).astype(F)
    q = quantized_po2(bits, mv)
    a = tf_q(q, x)
    b = np_quantized_po2(x, bits, mv)
    v, bt = mism(a, b)
    tot[0] += x.size
    tot[1] += v
    tot[2] += bt
    if v or bt:
        idx = np.nonzero(a != b)[0][:5]
        log(f"  MISMATCH bits={bits} max={mv}: {v}/{bt} of {x.size}; "
            f"e.g. x={x[idx]} tf={a[idx]} np={b[idx]}")
log(f"  total values {tot[0]}, value mismatches {tot[1]}, bit-pattern mismatches {tot[2]}")
tot = [0, 0, 0]
for bits, mv in [(4, 1.0), (6, None), (8, 1.0), (5, 4.0)]:
    q = quantized_po2(bits, mv)
    for c in chunks[::3]:      # 7-element tensors: every log goes through glibc logf
        a = tf_q(q, c)
        b = np_quantized_po2(c, bits, mv)
        v, bt = mism(a, b)
        tot[0] += c.size
        tot[1] += v
        tot[2] += bt
log(f"  po2 on 7-element tensors (scalar log path): total {tot[0]}, value mismatches {tot[1]}, "
    f"bit mismatches {tot[2]}")
for bits in (2, 3, 4, 6, 8):
    q = quantized_po2(bits, 1.0)
    xs = np.array([0.0, -0.0, 1e-9, 1e-6, 0.01, 0.7, 1.0, 1.4142135, 1.4142137, 5.0, -0.3, -5.0], F)
    log(f"  po2({bits},1.0) min_exp,max_exp={q._min_exp},{q._max_exp}: {xs.tolist()} "
        f"-> {tf_q(q, xs).tolist()}")
q = quantized_po2(4, 1.5)
log(f"  po2(4,1.5) on [1.4, 1.5, 10] -> {tf_q(q, np.array([1.4, 1.5, 10.0], F)).tolist()}")

# ------------------------------------------------------------------ 4. graph mode / keras model
def traced(quantizer):
    """tf.function wrapper around one quantizer (binds it now, not at call time)."""
    return tf.function(lambda t: quantizer(t))


log("## graph mode (tf.function / model.predict) == eager?")
x = np.concatenate([inputs_fixed(2.0 ** -7, -128, 127), thr_x[:2000]]).astype(F)
for q, ref in [(quantized_bits(8, 0, alpha=1), lambda v: np_quantized_bits(v, 8, 0)),
               (quantized_relu(8, 3), lambda v: np_quantized_relu(v, 8, 3)),
               (quantized_po2(6, 1.0), lambda v: np_quantized_po2(v, 6, 1.0))]:
    inp = keras.Input((None, 1))
    model = keras.Model(inp, QActivation(q)(inp))
    a = model.predict(x.reshape(1, -1, 1), verbose=0).reshape(-1)
    b = traced(q)(tf.constant(x)).numpy()
    log(f"  {q}: model.predict vs numpy {mism(a, ref(x))}, tf.function vs numpy {mism(b, ref(x))} "
        f"(value, bit) of {x.size}")

# ------------------------------------------------------------------ 5. QConv1D
log("## QConv1D: kernel/bias quantised then float32 conv + bias_add")
tf.random.set_seed(1)
for kq, bq, kref, bref, kscale, bscale in [
    (quantized_bits(8, 1, alpha=1), quantized_bits(12, 3, alpha=1),
     lambda w: np_quantized_bits(w, 8, 1), lambda b: np_quantized_bits(b, 12, 3),
     2.0 ** 6, 2.0 ** 8),
    (quantized_po2(6, 1.0), quantized_bits(10, 2, alpha=1),
     lambda w: np_quantized_po2(w, 6, 1.0), lambda b: np_quantized_bits(b, 10, 2),
     2.0 ** 32, 2.0 ** 7)]:
    inp = keras.Input((None, 3))
    h = QActivation(quantized_bits(12, 0, alpha=1))(inp)
    conv = CausalQConv1D(5, 3, dilation_rate=2, padding="causal", kernel_quantizer=kq,
                         bias_quantizer=bq)
    model = keras.Model(inp, conv(h))
    W = rng.standard_normal((3, 3, 5)).astype(F) * F(0.6)
    B = rng.standard_normal(5).astype(F)
    conv.set_weights([W, B])
    X = rng.uniform(-1.2, 1.2, (2, 50, 3)).astype(F)
    y = model.predict(X, verbose=0)
    xq = np_quantized_bits(X, 12, 0)
    wq = kref(W)
    bq_ = bref(B)
    xi = np.rint(xq.astype(np.float64) * 2 ** 11).astype(np.int64)
    wi = np.rint(wq.astype(np.float64) * kscale).astype(np.int64)
    bi = np.rint(bq_.astype(np.float64) * bscale).astype(np.int64)
    assert np.all(xi == xq * 2.0 ** 11) and np.all(wi == wq * kscale) and np.all(bi == bq_ * bscale)
    xp = np.concatenate([np.zeros((2, 4, 3), np.int64), xi], axis=1)   # causal pad d*(k-1)=4
    acc = np.zeros((2, 50, 5), np.int64)
    for t in range(3):
        acc += np.einsum("btc,cf->btf", xp[:, 2 * t: 2 * t + 50, :], wi[t])
    # exact rational result: acc / (2^11 * kscale) + bias
    exact = acc.astype(np.float64) / (2.0 ** 11 * kscale) + bi / bscale
    log(f"  {kq} / {bq}: max |model - exact| = {np.max(np.abs(y - exact)):.3g}; "
        f"bit-equal to float32(exact): {int(np.sum(y != exact.astype(F)))} mismatches of "
        f"{y.size}; "
        f"kernel via QKeras vs numpy "
        f"{mism(conv.kernel_quantizer_internal(conv.kernel).numpy(), wq)}")

# ------------------------------------------------------ 6. defaults: alpha=None as kernel quantizer
log("## quantized_bits(bits, integer) default alpha=None inside QConv1D -> auto_po2")
conv = CausalQConv1D(4, 3, kernel_quantizer=quantized_bits(8, 0),
                     bias_quantizer=quantized_bits(8, 0))
log(f"  after QConv1D: kernel quantizer alpha={conv.kernel_quantizer_internal.alpha!r} "
    f"symmetric={conv.kernel_quantizer_internal.symmetric}; "
    f"bias quantizer alpha={conv.bias_quantizer_internal.alpha!r}")
tot = [0, 0, 0]
for bits, integer in [(4, 0), (6, 1), (8, 0), (8, 2), (12, 3)]:
    for _ in range(20):
        W = (rng.standard_normal((3, 7, 6)) * rng.uniform(0.01, 3, (1, 1, 6))).astype(F)
        q = quantized_bits(bits, integer, alpha="auto_po2")
        a = tf_q(q, W)
        b, scale, z = np_quantized_bits_auto_po2(W, bits, integer)
        v, bt = mism(a, b)
        tot[0] += W.size
        tot[1] += v
        tot[2] += bt
        tf_scale = q.scale.numpy() * (2.0 ** integer) / (2.0 ** (bits - 1))
        if v or bt or not np.array_equal(tf_scale.reshape(-1), scale.reshape(-1)):
            log(f"  auto_po2 MISMATCH bits={bits} int={integer}: {v}/{bt}")
log(f"  auto_po2: total {tot[0]}, value mismatches {tot[1]}, bit mismatches {tot[2]}")

