"""The waveshaping task's fixed shape: the embedding's corners and edges, the splits, and
the model's input channels. Every package reads them from here."""

INPUT_CHANNELS = 3
"""The model's input: the core wave and the two embedding coordinates."""

CORNERS: dict[str, tuple[float, float]] = {
    "sine": (-1.0, -1.0),
    "ramp": (-1.0, 1.0),
    "square": (1.0, 1.0),
    "zigzag": (1.0, -1.0),
}
"""Corner shapes of the 2-D embedding square (e0, e1), as in the blog post."""

EDGES: list[tuple[str, str]] = [
    ("sine", "ramp"),
    ("ramp", "square"),
    ("square", "zigzag"),
    ("zigzag", "sine"),
]
"""Adjacent corner pairs: the edges of the embedding square, crossfaded in training data."""

SPLITS = ("train", "validation", "test")
