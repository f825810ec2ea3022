"""The sample run `make run` submits: the bundled labelled tiles through the whole stack."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx

from swath.samples import load_labels, sample_dir
from swath.settings import Settings

MODEL = "crop-classifier"


def sample_request() -> dict:
    """`POST /v1/runs` body with every bundled tile inline."""
    inputs = [
        {"id": path.stem, "data": base64.b64encode(path.read_bytes()).decode(), "media_type": "application/x-npy"}
        for path in sorted((sample_dir() / "tiles").glob("*.npy"))
    ]
    return {"model": MODEL, "inputs": inputs, "params": {}}


async def run_sample(settings: Settings, *, out=print, timeout: float = 300) -> dict:
    """Submit the sample run, print its progress and result table; returns the final run."""
    key = settings.dev_api_key_file.read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=settings.api_base_url, headers=headers, timeout=30) as http:
        response = await http.post("/v1/runs", json=sample_request())
        response.raise_for_status()
        run = response.json()
        out(f"submitted run {run['id']} ({run['items_total']} tiles, {run['model']})")
        out(f"  Temporal UI: {run['temporal_ui_url']}")
        deadline = time.monotonic() + timeout
        last = None
        while run["status"] in ("queued", "processing"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run['id']} still {run['status']} after {timeout:.0f}s")
            await asyncio.sleep(0.5)
            run = (await http.get(f"/v1/runs/{run['id']}")).json()
            eta = run["estimated_seconds_remaining"]
            line = f"  {run['status']:<10} {run['progress_percent']:>3}%" + (f"  about {eta}s left" if eta else "")
            if line != last:
                out(line)
                last = line
    out(format_result(run))
    return run


def format_result(run: dict) -> str:
    """The result table: item, label, confidence, model version, and the known label."""
    lines = [f"run {run['id']}: {run['status']}"]
    if run["status"] != "complete":
        lines.append(f"  error: {run['error']}")
        return "\n".join(lines)
    truth = load_labels()
    lines.append(f"  {'item':<10} {'label':<10} {'confidence':>10}  {'model':<22} {'expected':<10}")
    correct = 0
    for item in run["result"]["items"]:
        if item.get("error"):
            lines.append(f"  {item['id']:<10} error: {item['error']['code']}: {item['error']['message']}")
            continue
        expected = truth.get(item["id"], "?")
        correct += item["label"] == expected
        mark = "" if item["label"] == expected else "  ✗"
        lines.append(
            f"  {item['id']:<10} {item['label']:<10} {item['confidence']:>10.3f}  "
            f"{run['result']['model']['name'] + '@' + item['model_version']:<22} {expected:<10}{mark}"
        )
    model = run["result"]["model"]
    lines.append(f"  accuracy on the labelled samples: {correct}/{len(run['result']['items'])}")
    lines.append(f"  model {model['name']}@{model['version']} sha256 {model['sha256'][:16]}…")
    lines.append(f"  Temporal UI: {run['temporal_ui_url']}")
    return "\n".join(lines)
