"""`swath models push | promote | rollback | show` as users run them (on pipes, `--json`), against the live API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.api.test_models_api import SCOPES, manifest, onnx_model
from tests.cli.test_cli_runs import on_pipes
from tests.conftest import make_key


async def test_push_promote_a_warm_canary_and_roll_back(api_url: str, db, tmp_path: Path) -> None:
    key = await make_key(db, "acme", SCOPES)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    for version, seed in (("1.0.0", 1), ("1.1.0", 2)):
        data = onnx_model(seed=seed).SerializeToString()
        (tmp_path / f"{version}.onnx").write_bytes(data)
        (tmp_path / f"{version}.json").write_text(
            json.dumps({"name": name, "version": version, **manifest(data, "onnx")}))
        status, out, err = await on_pipes(api_url, key, tmp_path, "models", "push", f"{version}.onnx",
                                          "--manifest", f"{version}.json", "--json")
        assert status == 0, (out, err)
        assert json.loads(out)["status"] == "ready"

    status, out, err = await on_pipes(api_url, key, tmp_path, "models", "promote", name, "1.0.0", "--json")
    assert status == 0, (out, err)
    assert json.loads(out)["targets"] == [{"version": "1.0.0", "weight": 100}]
    status, out, err = await on_pipes(api_url, key, tmp_path, "models", "promote", name, "1.0.0",
                                      "--canary", "1.1.0:10", "--no-warm", "--json")
    assert status == 0, (out, err)
    moved = json.loads(out)
    assert moved["targets"] == [{"version": "1.0.0", "weight": 90}, {"version": "1.1.0", "weight": 10}]
    assert moved["warm"] is False

    status, out, err = await on_pipes(api_url, key, tmp_path, "models", "rollback", name, "--json")
    assert status == 0, (out, err)
    rolled = json.loads(out)
    assert rolled["targets"] == [{"version": "1.0.0", "weight": 100}] and rolled["warm"] is False
    status, out, err = await on_pipes(api_url, key, tmp_path, "models", "show", name)
    assert status == 0, (out, err)
    assert "production → 1.0.0 (100)" in out and "1.1.0" in out

    status, out, err = await on_pipes(api_url, key, tmp_path, "models", "promote", name, "1.0.0", "--canary", "x")
    assert status != 0 and "VERSION:WEIGHT" in out + err
