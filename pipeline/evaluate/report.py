"""The comparison report: one row per model config, from the validate stage's metrics.

`reports/comparison.md` holds the table (scheme, size, quality, HLS-vs-Keras agreement and
the FPGA cost estimate), the default models beside the original ECP5 design's published
figures, and the quality-against-multipliers plot.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import ModelConfig, Params

ECP5_FIGURES = {
    "fixed": "134 of 156 multipliers (16 filters, K=4, dilations 1/4/16)",
    "po2": "70 multipliers, 101% of the LUTs (did not meet timing)",
}
"""The original ECP5 design's published utilisation (Mat Kelcey, "a (larger) wavenet neural
net running on an FPGA at (almost) 200,000 inferences / sec", 2023), per scheme."""


@dataclass(frozen=True)
class Row:
    """One model config: its name and settings, and the validate stage's metrics."""

    model: str
    config: ModelConfig
    reuse_factor: str  # each layer's ReuseFactor, e.g. 192/512/64
    metrics: dict[str, float]

    def plot_point(self) -> dict:
        return {"model": self.model, "reuse_factor": self.reuse_factor,
                "est_dsp": self.metrics["est_dsp"], "esr_corners": self.metrics["esr_corners"],
                "esr_edges": self.metrics["esr_edges"]}


COLUMNS = [
    ("model", lambda r: r.model),
    ("scheme", lambda r: r.config.scheme),
    ("parameters", lambda r: f"{r.metrics['parameters']:,.0f}"),
    ("weight bits", lambda r: str(r.config.kernel_quantizer.bits)),
    ("ReuseFactor", lambda r: str(r.reuse_factor)),
    ("ESR corners", lambda r: f"{r.metrics['esr_corners']:.4f}"),
    ("ESR edges", lambda r: f"{r.metrics['esr_edges']:.4f}"),
    ("Keras ESR corners", lambda r: f"{r.metrics['keras_esr_corners']:.4f}"),
    ("HLS vs Keras MSE", lambda r: f"{r.metrics['hls_vs_keras_mse']:.2e}"),
    ("HLS vs Keras LSD", lambda r: f"{r.metrics['hls_vs_keras_lsd']:.4f}"),
    ("words differing from reference", lambda r:
     f"{r.metrics['hls_vs_reference_mismatches']:,.0f} of {r.metrics['samples']:,.0f}"),
    ("est. DSP", lambda r: f"{r.metrics['est_dsp']:,.0f}"),
    ("est. po2 shift-adds", lambda r: f"{r.metrics['est_shift_adds']:,.0f}"),
    ("est. BRAM18", lambda r: f"{r.metrics['est_bram18']:,.0f}"),
    ("est. latency (cycles)", lambda r: f"{r.metrics['est_latency_cycles']:,.0f}"),
    ("est. max sample rate", lambda r: f"{r.metrics['est_max_sample_rate_hz'] / 1e6:g} MHz"),
]


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *["| " + " | ".join(line) + " |" for line in lines]]


def markdown(rows: list[Row], params: Params, plot_name: str) -> str:
    """The report's text."""
    validation, hls = params.validation, params.hls
    text = [
        "# Quantisation schemes compared",
        "",
        "Written by the report stage from `metrics/<model>.json` (the validate stage); "
        "`dvc metrics show` prints the same figures. ESR is the HLS C simulation's against "
        "the target waveform on the test split (mean of the per-shape figures); MSE and "
        "log-spectral distance (LSD) compare the HLS C simulation with the QKeras model over "
        f"the test split and a {validation.sweep.seconds:g} s sweep; the LSD uses Hann "
        f"frames of {validation.stft_n_fft} samples every {validation.stft_hop}, with power "
        f"floored {validation.lsd_floor_above_rounding_noise_db:g} dB above the output "
        "word's rounding noise (docs/validation.md). Costs are the analytic estimate of "
        f"docs/fpga-cost.md for {hls.part} at {1000 / hls.clock_period_ns:g} MHz.",
        "",
        *_table([name for name, _ in COLUMNS], [[cell(r) for _, cell in COLUMNS]
                                                 for r in rows]),
        "",
        f"![quality against multipliers]({plot_name})",
        "",
        "## Beside the original ECP5 design",
        "",
        *_table(["model", "scheme", "estimated here (DSP slices, po2 shift-adds)",
                 "est. LUT", "est. FF", "est. II (cycles)", "original design on ECP5"],
                [[r.model, r.config.scheme,
                  f"{r.metrics['est_dsp']:,.0f} DSP at ReuseFactor {r.reuse_factor}, "
                  f"{r.metrics['est_shift_adds']:,.0f} shift-adds",
                  f"{r.metrics['est_lut']:,.0f}", f"{r.metrics['est_ff']:,.0f}",
                  f"{r.metrics['est_ii_cycles']:,.0f}",
                  ECP5_FIGURES["po2" if "po2" in r.config.scheme else "fixed"]]
                 for r in rows]),
        "",
        "The ECP5 design time-shares its multipliers; here ReuseFactor R shares each DSP "
        "between R products. A po2 multiply is a shift plus an add in LUTs, which is where "
        "the original po2 design ran out of logic.",
        "",
    ]
    return "\n".join(text)
