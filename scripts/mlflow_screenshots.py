"""Screenshots of the MLflow UI in headless Chromium, for docs/tracking.md: the runs table in
the designs view, two design runs compared with one plot selected, and a design run's audio
player.

Needs a running UI (`make mlflow-ui`, or `mlflow ui --workers 1 --port ...` on another
store) and Debian's chromium. Chromium is driven over its DevTools protocol (aiohttp's
websocket client), since a click is needed to open an artifact in the compare view.

    PYTHONPATH=. .venv/bin/python scripts/mlflow_screenshots.py --url http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
from mlflow.tracking import MlflowClient

from pipeline.tracking.views import runs_url

CLICK_TEXT = """(() => {
  const text = %s;
  const found = [...document.querySelectorAll('*')].filter(e => [...e.childNodes].some(
    n => n.nodeType === Node.TEXT_NODE && n.textContent.trim() === text));
  if (!found.length) return false;
  found[0].scrollIntoView({block: 'start'});
  window.scrollBy(0, -60);
  found[0].click();
  return true;
})()"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, socket_) -> None:
        self.socket, self.next_id = socket_, 0

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.socket.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get("id") == self.next_id:
                return message.get("result", {})

    async def shoot(self, url: str, path: Path, width: int, height: int,
                    click: tuple[str, ...] = (), settle: float = 6.0) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        await self.call("Page.navigate", url=url)
        await asyncio.sleep(settle)
        for text in click:
            result = await self.call("Runtime.evaluate", expression=CLICK_TEXT % json.dumps(text))
            if not result.get("result", {}).get("value"):
                raise SystemExit(f"{url}: nothing to click labelled {text!r}")
            await asyncio.sleep(settle / 2)
            # The opened files change the page's height: bring the list (and the previews
            # beside it) back to the top of the window.
            await self.call("Runtime.evaluate", expression=CLICK_TEXT.replace(
                "found[0].click();", "") % json.dumps(text))
            await asyncio.sleep(1)
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"{path}: {url}")


async def shoot_all(debug_port: int, base: str, experiment: str, out: Path) -> None:
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    designs = client.search_runs([found.experiment_id], "tags.kind = 'design'",
                                 order_by=["metrics.esr_corners ASC"], max_results=2)
    ids = [run.info.run_id for run in designs]
    compare = (f"{base}/#/compare-runs?runs={quote(json.dumps(ids))}"
               f"&experiments={quote(json.dumps([found.experiment_id]))}"
               f"&workflowType=machine_learning")
    audio = (f"{base}/#/experiments/{found.experiment_id}/runs/{ids[0]}/artifacts/"
             f"sweep_hls.wav?workflowType=machine_learning")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
            target = next(t for t in await response.json() if t["type"] == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.shoot(runs_url(base, found.experiment_id), out / "runs-table.png",
                             2000, 900)
            await page.shoot(compare, out / "compare-spectrograms.png", 2200, 1100,
                             click=("spectrograms.png",))
            await page.shoot(compare, out / "compare-waveforms.png", 2200, 1100,
                             click=("waveforms.png",))
            await page.shoot(audio, out / "audio-player.png", 1800, 900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--experiment", default="waveshaper")
    parser.add_argument("--out", default=Path("docs/screenshots"), type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", f"--remote-debugging-port={port}",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            asyncio.run(shoot_all(port, args.url.rstrip("/"), args.experiment, args.out))
        finally:
            browser.terminate()
            browser.wait(timeout=30)


if __name__ == "__main__":
    main()
