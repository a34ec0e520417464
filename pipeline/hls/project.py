"""A complete, relocatable Vitis HLS project for an exported model.

hls4ml writes the types, the weights, the layers' configs (`firmware/defines.h`,
`parameters.h`, `weights/`), its `nnet_utils` and `project.tcl` (part and clock). This module
writes the rest from `templates/`: the AXI4-Stream top level (`firmware/<project>.cpp/.h`,
replacing hls4ml's array-port top), `build_prj.tcl` and `build_opt.tcl` (replacing hls4ml's),
the streaming testbench and its `tb_data/` (expected outputs from the fixed-point reference,
and a short stimulus for co-simulation), `csim.sh` (g++ only), the Python stream bridge and
a README. hls4ml's `<project>_bridge.cpp` and `build_lib.sh` (its own ctypes simulation of an
array-port top) are removed. The folder is staged and renamed into place, so an interrupted
write leaves nothing that looks complete, and it replaces only an earlier project
(`pipeline.outputs.staged_directory`).
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
from pipeline.hls.weights import rewrite_weights
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


COSIM_PIECES = 2
COSIM_SAMPLES = 2000
"""The co-simulation stimulus: the first COSIM_SAMPLES / COSIM_PIECES samples of that many
testbench segments, each from a start-of-stream flag (so one flag is in mid-stream)."""


def _stream_lines(exported: ExportedModel, segments: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Testbench lines of `segments` streamed back to back: (flag, inputs) and the
    reference's outputs, each segment computed from its start-of-stream flag. Values are exact
    binary fractions, printed exactly."""
    reference = FixedPointReference(exported)
    inputs, expected = [], []
    for segment in segments:
        words = exported.input_format.words(np.asarray(segment, dtype=np.float32))
        flags = np.zeros((len(words), 1))
        flags[0] = 1
        inputs.append(np.hstack([flags, exported.input_format.values(words)]))
        expected.append(reference.run(segment))
    return np.vstack(inputs), np.vstack(expected)


def _write_testbench_data(exported: ExportedModel, segments: list[np.ndarray],
                          tb_dir: Path) -> None:
    """tb_data: every segment (the C simulation's stimulus), and a short piece of the first
    COSIM_PIECES segments (the co-simulation's)."""
    tb_dir.mkdir(exist_ok=True)
    inputs, expected = _stream_lines(exported, segments)
    np.savetxt(tb_dir / "tb_input_features.dat", inputs, fmt="%.17g")
    np.savetxt(tb_dir / "tb_output_predictions.dat", expected, fmt="%.17g")
    piece = COSIM_SAMPLES // COSIM_PIECES
    pieces = [np.asarray(segment)[:piece] for segment in
              (segments * COSIM_PIECES)[:COSIM_PIECES]]
    inputs, expected = _stream_lines(exported, pieces)
    np.savetxt(tb_dir / "cosim_input_features.dat", inputs, fmt="%.17g")
    np.savetxt(tb_dir / "cosim_output_predictions.dat", expected, fmt="%.17g")


def _type_of(defines: str, name: str) -> str:
    match = re.search(rf"typedef (.+) {re.escape(name)};", defines)
    return match.group(1) if match else name


def _layer_table(graph: ModelGraph, exported: ExportedModel, defines: str) -> str:
    rows = ["| layer | K | dilation | channels | kernel | result type | accumulator | "
            "lanes (outputs x rows) | passes (ReuseFactor) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    nodes = {node.name: node for node in graph.get_layers()}
    for layer in exported.layers:
        node = nodes[layer.name]
        kernel = "po2 shifts" if isinstance(layer.kernel_format, Po2Format) else \
            f"ap_fixed<{layer.kernel_format.bits},{layer.kernel_format.integer + 1}>"
        rows.append(f"| {layer.name} | {layer.kernel_size} | {layer.dilation} | "
                    f"{layer.in_channels} -> {layer.out_channels} | {kernel} | "
                    f"`{_type_of(defines, node.get_output_variable().type.name)}` | "
                    f"`{_type_of(defines, node.get_attr('accum_t').name)}` | "
                    f"{node.get_attr('lanes')} ({node.get_attr('output_lanes')} x "
                    f"{node.get_attr('row_lanes')}) | {node.get_attr('passes')} |")
    return "\n".join(rows)


def _cost_table(cost: DesignCost) -> str:
    rows = ["| layer | lanes | passes | products/sample | DSP48E1 | LUT | FF | BRAM18 | "
            "interval (cycles) | latency (cycles) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {c.name} | {c.lanes}{' shifters' if c.po2 else ''} | {c.passes} | "
             f"{c.multiplies + c.shift_adds} | {c.dsp} | {c.lut:,} | {c.ff:,} | {c.bram18} | "
             f"{c.interval_cycles} | {c.latency_cycles} |" for c in cost.layers]
    rows.append(f"| streams and AXI4-Stream edge | | | | 0 | {cost.edge_lut:,} | "
                f"{cost.edge_ff:,} | 0 | {cost.edge_interval_cycles} | "
                f"{cost.edge_latency_cycles} |")
    rows.append(f"| total | {sum(c.lanes for c in cost.layers)} | | "
                f"{sum(c.multiplies + c.shift_adds for c in cost.layers):,} | {cost.dsp} | "
                f"{cost.lut:,} | {cost.ff:,} | {cost.bram18} | II {cost.ii_cycles} | "
                f"{cost.latency_cycles} |")
    return "\n".join(rows)


def _render(template: str, values: dict[str, object]) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(values)


def lane_bits(fmt_bits: int) -> int:
    """A word's AXI4-Stream lane: its bits rounded up to whole bytes."""
    return -(-fmt_bits // 8) * 8


def _top_values(graph: ModelGraph, exported: ExportedModel, config: HlsConfig) -> dict:
    """The names, types and lanes the top-level templates fill in."""
    nodes = [node for node in graph.get_layers() if node.class_name == "CachedConv1D"]
    inputs = graph.get_input_variables()[0]
    output = graph.get_output_variables()[0]
    n_in, n_out = exported.layers[0].in_channels, exported.layers[-1].out_channels
    in_bits = exported.input_format.bits
    out_bits = nodes[-1].get_attr("result_t").precision.width
    out_signed = nodes[-1].get_attr("result_t").precision.signed
    streams = [(inputs.name, inputs.type.name, n_in)] + [
        (node.get_output_variable().name, node.get_output_variable().type.name,
         node.get_attr("n_out")) for node in nodes]
    declarations = "\n".join(
        f"    hls::stream<nnet::cached_sample<{type_name}, {width}> > {name}(\"{name}\");\n"
        f"    NNET_CACHED_HLS(HLS STREAM variable={name} depth=2)"
        for name, type_name, width in streams)
    calls = "\n".join(f"    {node.get_attr('function_cpp')} // {node.name}" for node in nodes)
    return {
        "project": config.project_name, "guard": f"{config.project_name.upper()}_H_",
        "n_in": n_in, "n_out": n_out, "in_lane": lane_bits(in_bits),
        "out_lane": lane_bits(out_bits), "in_width": n_in * lane_bits(in_bits),
        "out_width": n_out * lane_bits(out_bits), "in_bits": in_bits, "out_bits": out_bits,
        "in_signed": "true" if exported.input_format.signed else "false",
        "out_signed": "true" if out_signed else "false",
        "input_t": inputs.type.name, "result_t": output.type.name,
        "input_var": inputs.name, "output_var": output.name,
        "streams": declarations, "layers": calls,
    }


def _write_extras(graph: ModelGraph, exported: ExportedModel, config: HlsConfig,
                  staging: Path) -> None:
    project = config.project_name
    defines = (staging / "firmware" / "defines.h").read_text()
    cost = estimate(exported, config)
    clock_hz = 1e9 / config.clock_period_ns
    values = {
        **_top_values(graph, exported, config),
        "model": exported.name, "hls4ml_version": hls4ml.__version__,
        "backend": config.backend, "tool": f"{config.backend.lower()}_hls",
        "input_type": _type_of(defines, "input_t"), "result_type": _type_of(defines, "result_t"),
        "layer_table": _layer_table(graph, exported, defines), "cost_table": _cost_table(cost),
        "part": config.part, "clock_period_ns": f"{config.clock_period_ns:g}",
        "clock_mhz": f"{clock_hz / 1e6:g}", "ii": cost.ii_cycles,
        "latency": cost.latency_cycles, "max_rate": f"{cost.max_sample_rate_hz:,.0f}",
        "target_rate": f"{config.target_sample_rate_hz:,.0f}",
        "cosim_samples": f"{COSIM_SAMPLES:,}",
    }
    firmware = staging / "firmware"
    (firmware / f"{project}.cpp").write_text(_render("myproject.cpp", values))
    (firmware / f"{project}.h").write_text(_render("myproject.h", values))
    (staging / f"{project}_test.cpp").write_text(_render("testbench.cpp", values))
    (staging / "stream_bridge.cpp").write_text(_render("stream_bridge.cpp", values))
    (staging / "build_prj.tcl").write_text(_render("build_prj.tcl", values))
    (staging / "build_opt.tcl").write_text(_render("build_opt.tcl", values))
    (staging / "README.md").write_text(_render("README.md", values))
    csim = staging / "csim.sh"
    csim.write_text(_render("csim.sh", values))
    csim.chmod(0o755)
    # hls4ml's ctypes bridge and its build script call hls4ml's array-port top.
    for name in (f"{project}_bridge.cpp", "build_lib.sh"):
        (staging / name).unlink(missing_ok=True)


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
    rewrite_weights(graph, folder)
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
