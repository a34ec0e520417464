"""A complete, relocatable Vitis HLS project for an exported model.

hls4ml writes the firmware, `build_prj.tcl` and `project.tcl` (part and clock); this module
adds the streaming testbench, its `tb_data/` (expected outputs from the fixed-point
reference), `csim.sh` (g++ only), the Python stream bridge and a README. The folder is
staged and renamed into place, so an interrupted write leaves nothing that looks complete,
and it replaces only an earlier project (`pipeline.outputs.staged_directory`).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import hls4ml
import numpy as np
from hls4ml.model import ModelGraph

from pipeline.config import HlsConfig
from pipeline.fixed.cost import DesignCost, estimate
from pipeline.fixed.ir import ExportedModel
from pipeline.fixed.reference import FixedPointReference
from pipeline.fixed.weights import to_dict
from pipeline.fixed.words import Po2Format
from pipeline.hls.converter import model_graph
from pipeline.hls.simulation import CSimulation
from pipeline.outputs import staged_directory

TEMPLATES = Path(__file__).parent / "templates"
STIMULUS_SEED = 0
OUTPUT_KIND = "hls"  # a project folder is marked as the hls stage's, by the stage or convert()


@dataclass
class HlsModel:
    """A written project. `predict(x)` runs its C simulation (compiled with g++ on first
    use): x (T, C_in) -> (T, C_out), the caches reset at the first sample."""

    project_dir: Path
    exported: ExportedModel
    config: HlsConfig
    graph: ModelGraph
    _simulation: CSimulation | None = field(default=None, repr=False)

    @property
    def n_in(self) -> int:
        return self.exported.layers[0].in_channels

    @property
    def n_out(self) -> int:
        return self.exported.layers[-1].out_channels

    def compile(self) -> CSimulation:
        if self._simulation is None:
            self._simulation = CSimulation(self.project_dir, self.config.project_name,
                                           self.n_in, self.n_out)
        return self._simulation

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.compile().run(x)


def default_stimulus(exported: ExportedModel, samples: int) -> list[np.ndarray]:
    """Seeded uniform noise over the whole input range: exercises every layer's full
    accumulator range when no test signal is given."""
    rng = np.random.default_rng(STIMULUS_SEED)
    fmt = exported.input_format
    channels = exported.layers[0].in_channels
    words = rng.integers(fmt.min_word, fmt.max_word + 1, size=(samples, channels))
    return [fmt.values(words)]


def spread_segments(segments: list[np.ndarray], samples: int) -> list[np.ndarray]:
    """Whole segments spread evenly over the list (so over the split's shapes and
    frequencies) until they hold at least `samples` samples, or all of them."""
    mean_length = np.mean([len(s) for s in segments])
    count = min(len(segments), int(np.ceil(samples / mean_length)))
    while True:
        chosen = [segments[i] for i in np.linspace(0, len(segments) - 1, count).round().astype(int)]
        if sum(len(s) for s in chosen) >= samples or count == len(segments):
            return chosen
        count += 1


def _write_testbench_data(exported: ExportedModel, segments: list[np.ndarray],
                          tb_dir: Path) -> None:
    """One line per sample: reset flag then inputs; expected outputs from the reference,
    each segment streamed from a reset. Values are exact binary fractions, printed exactly."""
    reference = FixedPointReference(exported)
    inputs, expected = [], []
    for segment in segments:
        words = exported.input_format.words(np.asarray(segment, dtype=np.float32))
        reset = np.zeros((len(words), 1))
        reset[0] = 1
        inputs.append(np.hstack([reset, exported.input_format.values(words)]))
        expected.append(reference.run(segment))
    tb_dir.mkdir(exist_ok=True)
    np.savetxt(tb_dir / "tb_input_features.dat", np.vstack(inputs), fmt="%.17g")
    np.savetxt(tb_dir / "tb_output_predictions.dat", np.vstack(expected), fmt="%.17g")


def _type_of(defines: str, name: str) -> str:
    match = re.search(rf"typedef (.+) {re.escape(name)};", defines)
    return match.group(1) if match else name


def _layer_table(graph: ModelGraph, exported: ExportedModel, defines: str) -> str:
    rows = ["| layer | K | dilation | channels | kernel | result type | accumulator | "
            "ReuseFactor |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    nodes = {node.name: node for node in graph.get_layers()}
    for layer in exported.layers:
        node = nodes[layer.name]
        kernel = "po2 shifts" if isinstance(layer.kernel_format, Po2Format) else \
            f"ap_fixed<{layer.kernel_format.bits},{layer.kernel_format.integer + 1}>"
        rows.append(f"| {layer.name} | {layer.kernel_size} | {layer.dilation} | "
                    f"{layer.in_channels} -> {layer.out_channels} | {kernel} | "
                    f"`{_type_of(defines, node.get_output_variable().type.name)}` | "
                    f"`{_type_of(defines, node.get_attr('accum_t').name)}` | "
                    f"{node.get_attr('reuse_factor')} |")
    return "\n".join(rows)


def _cost_table(cost: DesignCost) -> str:
    rows = ["| layer | ReuseFactor | multiplies/sample | DSP | po2 shift-adds | cache bits | "
            "BRAM18 | latency (cycles) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {c.name} | {c.reuse_factor} | {c.multiplies} | {c.dsp} | {c.shift_adds} | "
             f"{c.cache_bits} | {c.bram18} | {c.latency_cycles} |" for c in cost.layers]
    totals = cost.summary()
    rows.append(f"| total | II {cost.initiation_interval} | "
                f"{sum(c.multiplies for c in cost.layers)} | {cost.dsp} | "
                f"{totals['est_shift_adds']} | {totals['est_cache_bits']} | {cost.bram18} | "
                f"{cost.latency_cycles} |")
    return "\n".join(rows)


def _render(template: str, values: dict[str, object]) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(values)


def _write_extras(graph: ModelGraph, exported: ExportedModel, config: HlsConfig,
                  staging: Path) -> None:
    project = config.project_name
    defines = (staging / "firmware" / "defines.h").read_text()
    output = graph.get_output_variables()[0]
    reuse = sorted({node.get_attr("reuse_factor") for node in graph.get_layers()
                    if node.class_name == "CachedConv1D"})
    clock_hz = 1e9 / config.clock_period_ns
    values = {
        "project": project, "model": exported.name, "hls4ml_version": hls4ml.__version__,
        "backend": config.backend, "tool": f"{config.backend.lower()}_hls",
        "n_in": exported.layers[0].in_channels, "n_out": exported.layers[-1].out_channels,
        "input_t": "input_t", "reset_t": "input2_t", "result_t": "result_t",
        "input_type": _type_of(defines, "input_t"), "result_type": _type_of(defines, "result_t"),
        "output_var": output.name, "layer_table": _layer_table(graph, exported, defines),
        "cost_table": _cost_table(estimate(exported, config)),
        "part": config.part, "clock_period_ns": f"{config.clock_period_ns:g}",
        "clock_mhz": f"{clock_hz / 1e6:g}",
        "reuse_summary": "/".join(str(r) for r in reuse), "ii": max(reuse),
        "max_rate": f"{clock_hz / max(reuse):,.0f}",
    }
    (staging / f"{project}_test.cpp").write_text(_render("testbench.cpp", values))
    (staging / "stream_bridge.cpp").write_text(_render("stream_bridge.cpp", values))
    (staging / "README.md").write_text(_render("README.md", values))
    csim = staging / "csim.sh"
    csim.write_text(_render("csim.sh", values))
    csim.chmod(0o755)


def _reproducible(graph: ModelGraph, exported: ExportedModel, config: HlsConfig,
                  staging: Path) -> None:
    """The same model and config give the same project, byte for byte, wherever it is
    written: hls4ml's absolute output folder becomes `.`, and its random stamp (which only
    names the library of hls4ml's own `compile()`) becomes a hash of the weights and config."""
    content = json.dumps([to_dict(exported), config.model_dump(mode="json")], sort_keys=True)
    stamp = hashlib.sha256(content.encode()).hexdigest()[:8]
    random_stamp = graph.config.get_config_value("Stamp")
    # YAML quotes a stamp that reads as a number (e.g. 12345e67): unquote it first, so the
    # file does not depend on which random stamp hls4ml drew.
    replacements = {str(staging): ".", f"'{random_stamp}'": random_stamp,
                    random_stamp: stamp}
    for path in staging.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".tcl", ".sh", ".cpp", ".h", ".md"):
            text = original = path.read_text()
            for old, new in replacements.items():
                text = text.replace(old, new)
            if text != original:
                path.write_text(text)
    graph.config.config["Stamp"] = stamp


def write_project_files(exported: ExportedModel, folder: Path, config: HlsConfig,
                        testbench_input: list[np.ndarray] | None = None) -> ModelGraph:
    """Write the project's files into `folder`, an empty staging folder: the project is the
    same, byte for byte, wherever it is moved. `testbench_input`: segments (T, C_in) for
    tb_data, each streamed from a reset; default `config.testbench_samples` of seeded noise."""
    segments = testbench_input or default_stimulus(exported, config.testbench_samples)
    graph = model_graph(exported, str(folder), config)
    graph.write()
    _write_extras(graph, exported, config, folder)
    _write_testbench_data(exported, segments, folder / "tb_data")
    _reproducible(graph, exported, config, folder)
    return graph


def write_project(exported: ExportedModel, output_dir: Path, config: HlsConfig,
                  testbench_input: list[np.ndarray] | None = None) -> HlsModel:
    """Write `output_dir` whole. It must be absent, empty or an earlier project
    (`pipeline.outputs.check_output`): anything else is refused, nothing deleted."""
    output_dir = Path(output_dir).resolve()
    with staged_directory(output_dir, OUTPUT_KIND) as staging:
        graph = write_project_files(exported, staging, config, testbench_input)
    graph.config.config["OutputDir"] = str(output_dir)
    return HlsModel(output_dir, exported, config, graph)
