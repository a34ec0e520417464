"""The waveshaping data: the task's shapes, the phase-locked waveforms, synthesised segments,
recorded pairs, and the dataset folder they are written to and trained from."""
