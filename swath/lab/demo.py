"""The sample runs `make run` submits: the bundled labelled tiles, then a sample scene mapped by
`landcover-segmenter` (generated deterministically at the first run, uploaded, its map downloaded)."""

from __future__ import annotations

from pathlib import Path

from swath.client import AsyncSwath, SwathError
from swath.client.retries import RetryPolicy
from swath.client.types import Run, RunEvent
from swath.imagery.preview import write_preview
from swath.lab import synthetic_scenes as synthetic
from swath.lab.samples import load_labels, sample_dir
from swath.settings import Settings

MODEL = "crop-classifier"
SCENE_MODEL = "landcover-segmenter"
#: The sample scene: 1024×1024 px of synthetic Sentinel-2 bands at 10 m, the same bytes every time.
SCENE_SIZE, SCENE_SEED = 1024, 7
#: The sample is patient: another client of the dev tenant may hold its rate limit for a while (each
#: 429 is retried after its `Retry-After`, other failures back off up to 5 s), and the sample is
#: only reported as failed after 60 refusals in a row.
SAMPLE_RETRY = RetryPolicy(max_retries=60, backoff_s=0.5, max_backoff_s=5.0)


def sample_tiles() -> list[Path]:
    """The bundled labelled tiles, the sample run's inputs."""
    return sorted((sample_dir() / "tiles").glob("*.npy"))


async def run_sample(
    settings: Settings, *, out=print, timeout: float = 300, retry: RetryPolicy = SAMPLE_RETRY
) -> dict | None:
    """Submit the sample tile run, then the sample scene, through the Python client; print progress,
    the result table, where the scene's map was written and its class table. Returns the tile run's
    JSON, or `None` when a sample could not run: that is reported, and the stack keeps serving."""
    key = settings.dev_api_key_file.read_text().strip()
    # The client retries 429 and 503 after their `Retry-After`, so a busy stack delays the sample.
    async with AsyncSwath(settings.api_base_url, key, retry=retry) as swath:
        try:
            run = await swath.runs.create(MODEL, sample_tiles())
            out(f"submitted run {run.id} ({run.items_total} tiles, {run.model})")
            out(f"  Temporal UI: {run.temporal_ui_url}")
            run = await _follow(swath, run, out, timeout)
            out(format_result(run.raw))
            scene_run = await run_sample_scene(swath, settings.data_dir / "samples", out=out, timeout=timeout)
            out(format_scene_result(scene_run.raw, settings.data_dir / "samples"))
        except SwathError as err:
            out(f"the sample run did not complete: {err}")
            return None
    return run.raw


async def run_sample_scene(swath: AsyncSwath, folder: Path, *, out=print, timeout: float = 300) -> Run:
    """Upload the sample scene, map it, and download its outputs into `folder`."""
    scene = sample_scene(folder)
    blob = await swath.blobs.put(scene)
    run = await swath.runs.create(SCENE_MODEL, [(scene.stem, blob.uri)], params={"confidence": True})
    out(f"submitted run {run.id} (scene {scene.name}, {SCENE_SIZE}×{SCENE_SIZE} px, {run.model})")
    out(f"  Temporal UI: {run.temporal_ui_url}")
    run = await _follow(swath, run, out, timeout)
    if run.status == "complete":
        await swath.runs.download(run.id, folder / run.id)
        for scene_map in run.result.maps:
            map_path = folder / run.id / scene_map.name
            write_preview(scene, map_path, map_path.with_suffix(".png"))
    return run


async def _follow(swath: AsyncSwath, run: Run, out, timeout: float) -> Run:
    """Follow a run to its end (its events), printing its progress when it changes."""
    last = None

    def show(event: RunEvent) -> None:
        nonlocal last
        eta = event.run.estimated_seconds_remaining
        line = f"  {event.run.status:<10} {event.run.progress_percent:>3}%" + (f"  about {eta}s left" if eta else "")
        if line != last:
            out(line)
            last = line

    return await swath.runs.wait(run.id, timeout=timeout, raise_on_failure=False, on_event=show)


def sample_scene(folder: Path) -> Path:
    """The sample scene's GeoTIFF in `folder`, generated there the first time (deterministically)."""

    path = folder / "sample-scene.tif"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        spec = synthetic.SceneSpec(SCENE_SIZE, SCENE_SIZE, seed=SCENE_SEED)
        tmp = synthetic.write_scene(folder / ".sample-scene.tif", spec)
        tmp.replace(path)
    return path


def format_scene_result(run: dict, folder: Path) -> str:
    """Where the scene's map was written, and its class table."""
    lines = [f"run {run['id']}: {run['status']}"]
    if run["status"] != "complete":
        lines.append(f"  error: {run['error']}")
        return "\n".join(lines)
    for item in run["result"]["items"]:
        if item.get("error"):
            lines.append(f"  {item['id']}: error {item['error']['code']}: {item['error']['message']}")
    for scene_map in run["result"]["maps"]:
        lines.append(f"  map of {scene_map['input_id']} ({scene_map['crs']}, {scene_map['width']}×{scene_map['height']} px):")
        map_path = folder / run["id"] / scene_map["name"]
        lines.append(f"    {map_path}   (a COG: opens in QGIS)")
        lines.append(f"    {map_path.with_suffix('.png')}   (preview: true colour | classes)")
        lines.append(f"    {'class':<10} {'pixels':>9} {'share':>7} {'area (ha)':>10}")
        for stat in scene_map["class_stats"]:
            lines.append(
                f"    {stat['label']:<10} {stat['pixels']:>9} {stat['fraction']:>7.1%} {stat['area_ha']:>10.2f}"
            )
    return "\n".join(lines)


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
