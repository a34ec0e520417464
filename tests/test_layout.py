"""The layout keeps its promises: the fixed-point, HLS, RTL and evaluation packages (and the
data and config they build on) load without TensorFlow, so the stages that only need them start
in a second instead of five."""

import subprocess
import sys

from tests.conftest import ROOT

WITHOUT_TENSORFLOW = ("pipeline/fixed", "pipeline/hls", "pipeline/rtl", "pipeline/evaluate",
                      "pipeline/data", "pipeline/config")


def modules(folder: str) -> list[str]:
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for path in (ROOT / folder).rglob("*.py"))


PROBE = """
import importlib, json, sys
loaded = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded[name] = sorted(m for m in ("tensorflow", "keras", "qkeras") if m in sys.modules)
print(json.dumps(loaded))
"""


def test_every_module_of_the_tensorflow_free_packages_imports_without_it():
    import json

    names = [name for folder in WITHOUT_TENSORFLOW for name in modules(folder)]
    assert len(names) > 20
    done = subprocess.run([sys.executable, "-c", PROBE, *names], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    loaded = json.loads(done.stdout)
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_probe_sees_tensorflow_when_a_module_imports_it():
    done = subprocess.run([sys.executable, "-c", PROBE, "pipeline.train.model"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert "tensorflow" in done.stdout
