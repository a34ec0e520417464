"""The waveform formulas: phase alignment with the triangle, amplitude, crossfades; the same
bits on every CPU."""

import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.data import waveforms
from pipeline.data.synth import shaped_wave
from tests.conftest import ROOT

# Quarter points of one cycle: rising zero crossing, peak, falling zero crossing, trough.
PHASES = np.array([0.0, 0.25, 0.5, 0.75])
NO_DT = np.zeros(4)


def test_triangle_landmarks():
    np.testing.assert_allclose(waveforms.triangle(PHASES), [0, 1, 0, -1], atol=1e-12)
    assert waveforms.triangle(np.array([0.1]))[0] == pytest.approx(0.4)  # rising, slope 4


def test_sine_is_a_memoryless_shaping_of_the_triangle():
    phase = np.linspace(-3, 3, 10001)
    np.testing.assert_allclose(waveforms.sine(phase, phase * 0, "none"),
                               np.sin(np.pi / 2 * waveforms.triangle(phase)), atol=1e-12)


def test_shapes_are_phase_locked_to_the_triangle():
    eps = 1e-6
    ramp, square, zigzag = (waveforms.SHAPES[s] for s in ("ramp", "square", "zigzag"))
    # ramp: -1/2 at the rising zero crossing, 0 at the peak, jumps -2 at the trough
    np.testing.assert_allclose(ramp(PHASES[:3], NO_DT[:3], "none"), [-0.5, 0, 0.5], atol=1e-12)
    before, after = ramp(np.array([0.75 - eps, 0.75 + eps]), np.zeros(2), "none")
    assert before == pytest.approx(1, abs=1e-5) and after == pytest.approx(-1, abs=1e-5)
    # square: +1 while the triangle rises, -1 while it falls
    phase = np.linspace(0, 2, 4001)
    slope = np.gradient(waveforms.triangle(phase))
    wave = square(phase, phase * 0, "none")
    assert np.all(wave[slope > 0] == 1) and np.all(wave[slope < 0] == -1)
    # zigzag: twice the frequency, zero at zero crossings, peaks and troughs of the core
    np.testing.assert_allclose(zigzag(PHASES, NO_DT, "none"), 0, atol=1e-12)
    np.testing.assert_allclose(zigzag(np.array([0.125, 0.375]), np.zeros(2), "none"), [1, -1])


@pytest.mark.parametrize("shape", ["sine", "ramp", "square", "zigzag"])
def test_amplitude_is_unity(shape):
    phase = np.arange(48000) * 110.0 / 48000
    dt = np.full_like(phase, 110.0 / 48000)
    wave = waveforms.SHAPES[shape](phase, dt, "polyblep")
    assert np.max(np.abs(wave)) <= 1.0 + 1e-12
    assert np.max(np.abs(wave)) > 0.99


def test_polyblep_only_touches_samples_next_to_a_jump_and_reduces_aliasing():
    rate, freq = 48000, 1234.5
    phase = waveforms.oscillator_phase(np.full(rate, freq), rate, 0.1)
    dt = np.full(rate, freq / rate)
    naive, smooth = (waveforms.square(phase, dt, mode) for mode in ("none", "polyblep"))
    changed = np.flatnonzero(naive != smooth)
    distance = np.minimum(np.abs(np.mod(phase[changed] - 0.25, 0.5)),
                          0.5 - np.abs(np.mod(phase[changed] - 0.25, 0.5)))
    assert np.all(distance < dt[0])  # within one sample of a peak or trough

    def inharmonic_energy(wave):
        spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)))) ** 2
        bins = np.arange(len(spectrum))
        harmonic = np.zeros(len(spectrum), bool)
        for k in range(1, int(rate / 2 / freq) + 1):
            harmonic |= np.abs(bins - k * freq) <= 3
        return spectrum[~harmonic].sum() / spectrum.sum()

    assert inharmonic_energy(smooth) < 0.2 * inharmonic_energy(naive)


def test_constant_power_crossfade():
    a, b = np.random.default_rng(0).normal(size=(2, 200000))
    np.testing.assert_array_equal(waveforms.crossfade(a, b, 1.0), a)
    np.testing.assert_allclose(waveforms.crossfade(a, b, 0.0), b, atol=1e-15)
    for mix in (0.1, 0.5, 0.8):
        faded = waveforms.crossfade(a, b, mix)
        np.testing.assert_allclose(faded, np.sin(mix * np.pi / 2) * a
                                   + np.sin((1 - mix) * np.pi / 2) * b)
        # gains g0² + g1² = 1: uncorrelated signals keep their power
        assert np.mean(faded**2) == pytest.approx(1.0, rel=0.02)


def test_edge_target_is_the_crossfade_of_its_corners():
    phase = np.linspace(0, 3, 3000)
    dt = np.full_like(phase, 1e-3)
    expected = waveforms.crossfade(waveforms.ramp(phase, dt, "polyblep"),
                                   waveforms.square(phase, dt, "polyblep"), 0.3)
    np.testing.assert_array_equal(shaped_wave("ramp+square", 0.3, phase, dt, "polyblep"),
                                  expected)


def test_oscillator_phase_follows_a_glide():
    freq = np.linspace(100, 200, 1000)
    phase = waveforms.oscillator_phase(freq, 1000, 0.25)
    assert phase[0] == 0.25
    np.testing.assert_allclose(np.diff(phase), freq[:-1] / 1000)


SYNTHESIS_DIGEST = """
import hashlib
from pathlib import Path

from pipeline.config import load_params
from pipeline.data import synth

params = load_params(Path("params.yaml"))
data, digest = params.data, hashlib.sha256()
for _, core, target in synth.synthesize(data.synth, data.sample_rate, params.seed):
    digest.update(core.tobytes() + target.tobytes())
sweep = synth.sweep(params.validation.sweep, data.sample_rate, data.synth.band_limit)
digest.update(sweep.inputs.tobytes() + sweep.target.tobytes())
print(digest.hexdigest())
"""


def test_the_default_data_does_not_depend_on_numpys_cpu_dispatch():
    """NumPy picks its float64 `power` by CPU (AVX-512 has one of its own, 5% of results a
    last bit apart); synthesis must not, or a user's machine writes other data than ours.
    Here a process without NumPy's AVX-512 paths (harmless where there are none) must
    synthesise the default dataset and sweep to the same float64 bits."""
    without_avx512 = "X86_V4 AVX512_ICL AVX512_SPR"
    digests = {subprocess.run([sys.executable, "-c", SYNTHESIS_DIGEST], cwd=ROOT, check=True,
                              capture_output=True, text=True,
                              env={**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
                              ).stdout for disabled in ("", without_avx512)}
    assert len(digests) == 1, digests
