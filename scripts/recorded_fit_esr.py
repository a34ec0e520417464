"""The fit ESR the recorded-data importer measures on exact corner recordings: against the
recording's own shape and against the best-fitting other corner. docs/data.md's choice of the
default `data.recorded.max_fit_esr` (between the two columns) rests on this table.

Run: .venv/bin/python scripts/recorded_fit_esr.py
"""

from pipeline.data import waveforms
from pipeline.data.alignment import measure
from pipeline.data.shapes import CORNERS
from pipeline.data.synth import glide, shaped_wave

RATE = 48000
LEVEL = 0.9  # of full scale, as a recording with headroom
CORE_FREQUENCIES_HZ = [(30, 30), (80, 480), (440, 440), (1000, 2000), (2000, 2000)]


def main() -> None:
    print("| core frequency | own shape: worst fit ESR | any other corner: best fit ESR |")
    print("| --- | --- | --- |")
    for start, end in CORE_FREQUENCIES_HZ:
        freq = glide(start, end, RATE // 2)  # half a second
        phase = waveforms.oscillator_phase(freq, RATE, 0.2)
        core = LEVEL * waveforms.triangle(phase)
        own, other = [], []
        for shape in CORNERS:
            target = LEVEL * shaped_wave(shape, 1.0, phase, freq / RATE, "polyblep")
            for name, corner in CORNERS.items():
                fit = measure(core, target, *corner, max_latency=64, max_fit_esr=0.1)
                (own if name == shape else other).append(fit.fit_esr)
        band = f"{start} Hz" if start == end else f"{start}-{end} Hz glide"
        print(f"| {band} | {max(own):.3g} | {min(other):.3g} |")


if __name__ == "__main__":
    main()
