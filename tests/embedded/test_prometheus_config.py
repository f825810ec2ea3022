"""The configuration `swath up --observe` gives Prometheus, and the pools' ports it scrapes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from swath.cli.up import banner
from swath.domain.errors import PrometheusMissingError
from swath.embedded.prometheus import RULES_FILE, prometheus_argv, scrape_config, write_config
from swath.embedded.stack import Stack
from swath.settings import Settings
from swath.temporal.queues import TaskQueue


def _process(stack: Stack, name: str):
    return next(process for process in stack.pool_processes if process.name == name)


def test_each_pool_gets_its_own_port_from_the_base(tmp_path: Path) -> None:
    stack = Stack(Settings(data_dir=tmp_path, pool_http_base_port=19100))
    assert [(p.role, p.port) for p in stack.pool_processes] == [(q, 19100 + n) for n, q in enumerate(TaskQueue)]
    assert stack.pool_env(_process(stack, "pool-inference"))["SWATH_POOL_HTTP_PORT"] == "19103"
    assert stack.metrics_targets()["pool-notify"] == "127.0.0.1:19104"


def test_each_inference_process_gets_its_port_and_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")  # the machine's: each process narrows it to one
    stack = Stack(Settings(data_dir=tmp_path, pool_http_base_port=19100, inference_gpus="2,3"))
    second = stack.pool_env(_process(stack, "pool-inference-1"))
    assert (second["SWATH_POOL_HTTP_PORT"], second["CUDA_VISIBLE_DEVICES"]) == ("19105", "3")
    assert stack.pool_env(_process(stack, "pool-inference"))["CUDA_VISIBLE_DEVICES"] == "2"
    assert stack.pool_env(_process(stack, "pool-ingest"))["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert stack.metrics_targets()["pool-inference-1"] == "127.0.0.1:19105"


def test_without_a_base_port_no_pool_gets_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWATH_POOL_HTTP_PORT", "9464")  # one port for all would make four pools fail
    stack = Stack(Settings(data_dir=tmp_path, pool_http_base_port=None))
    assert {process.port for process in stack.pool_processes} == {None}
    assert "SWATH_POOL_HTTP_PORT" not in stack.pool_env(_process(stack, "pool-ingest"))
    assert set(stack.metrics_targets()) == {"api"}


def test_the_scrape_config_names_the_api_every_pool_and_the_rules(tmp_path: Path) -> None:
    pools = {"pool-inference": ("inference", "127.0.0.1:9473"), "pool-inference-1": ("inference", "127.0.0.1:9475")}
    config = scrape_config(api="127.0.0.1:8000", pools=pools)
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    # Every target carries the `namespace` label the rules group by.
    assert jobs["swath-api"] == [{"targets": ["127.0.0.1:8000"], "labels": {"namespace": "local"}}]
    assert jobs["swath-pools"] == [
        {"targets": ["127.0.0.1:9473"], "labels": {"namespace": "local", "pool": "inference", "instance": "pool-inference"}},
        {"targets": ["127.0.0.1:9475"], "labels": {"namespace": "local", "pool": "inference", "instance": "pool-inference-1"}},
    ]
    assert config["rule_files"] == [str(RULES_FILE)]
    assert "rule_files" not in scrape_config(api="a:1", pools={}, rules=tmp_path / "missing.yml")
    argv = prometheus_argv("/usr/bin/prometheus", config_file=tmp_path / "p.yml", data_dir=tmp_path / "d",
                           host="127.0.0.1", port=9090)  # fmt: skip
    assert f"--config.file={tmp_path / 'p.yml'}" in argv and "--web.listen-address=127.0.0.1:9090" in argv


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_promtool_accepts_the_generated_config(tmp_path: Path) -> None:
    stack = Stack(Settings(data_dir=tmp_path, pool_http_base_port=19100, inference_processes=2))
    pools = {p.name: (p.role.value, f"127.0.0.1:{p.port}") for p in stack.pool_processes}
    path = write_config(tmp_path / "prometheus.yml", scrape_config(api="127.0.0.1:8000", pools=pools))
    done = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_swath_up_prints_every_pools_metrics_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, pool_http_base_port=19100)
    text = banner(settings, Stack(settings))
    assert "  pool metrics pool-orchestration  http://127.0.0.1:19100/metrics\n" in text
    assert "pool-notify         http://127.0.0.1:19104/metrics" in text and "Prometheus" not in text


def test_observe_without_prometheus_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import swath.embedded.stack

    monkeypatch.setattr(swath.embedded.stack, "find_prometheus", lambda: None)
    with pytest.raises(PrometheusMissingError, match="apt-get install prometheus"):
        Stack(Settings(data_dir=tmp_path), observe=True)
