"""How the configured pools expand into processes: names, ports, devices, and refused settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swath.domain.errors import PoolProcessesError
from swath.embedded.pool_processes import inference_process_count, pool_port_count, pool_processes, process_name
from swath.settings import Settings
from swath.temporal.queues import TaskQueue

REPO = Path(__file__).resolve().parents[2]
BASE = 19100


def settings(**fields: object) -> Settings:
    return Settings(_env_file=None, pool_http_base_port=BASE, **fields)


def test_by_default_each_pool_has_one_process_on_its_base_port() -> None:
    processes = pool_processes(settings())
    assert [p.name for p in processes] == [f"pool-{queue.value}" for queue in TaskQueue]
    assert [p.port for p in processes] == list(range(BASE, BASE + len(TaskQueue)))
    assert {p.index for p in processes} == {0}
    assert all("CUDA_VISIBLE_DEVICES" not in p.env for p in processes)
    assert pool_port_count(1) == len(TaskQueue)


def test_extra_inference_processes_take_the_ports_after_the_base_block() -> None:
    processes = pool_processes(settings(inference_processes=3))
    inference = [p for p in processes if p.role is TaskQueue.INFERENCE]
    assert [(p.name, p.index) for p in inference] == [
        ("pool-inference", 0), ("pool-inference-1", 1), ("pool-inference-2", 2)
    ]
    first = list(TaskQueue).index(TaskQueue.INFERENCE)
    assert [p.port for p in inference] == [BASE + first, BASE + len(TaskQueue), BASE + len(TaskQueue) + 1]
    ports = [p.port for p in processes]
    assert len(set(ports)) == len(ports) == pool_port_count(3)
    assert set(ports) == set(range(BASE, BASE + pool_port_count(3)))
    assert [p.env["SWATH_POOL_HTTP_PORT"] for p in inference] == [str(p.port) for p in inference]
    assert inference[2].argv[-4:] == ["--pool", "inference", "--index", "2"]


def test_each_gpu_gets_a_process_that_sees_only_that_gpu() -> None:
    assert Settings(_env_file=None, inference_gpus=" 0, 1").inference_gpus == ("0", "1")
    processes = pool_processes(settings(inference_gpus="2,3,GPU-5f1e"))
    devices = {p.name: p.env["CUDA_VISIBLE_DEVICES"] for p in processes if p.role is TaskQueue.INFERENCE}
    assert devices == {"pool-inference": "2", "pool-inference-1": "3", "pool-inference-2": "GPU-5f1e"}
    assert all("CUDA_VISIBLE_DEVICES" not in p.env for p in processes if p.role is not TaskQueue.INFERENCE)
    assert inference_process_count(settings(inference_gpus="0,1", inference_processes=2)) == 2


def test_without_a_base_port_no_process_gets_one() -> None:
    processes = pool_processes(Settings(_env_file=None, pool_http_base_port=None, inference_gpus="0,1"))
    assert {p.port for p in processes} == {None}
    assert [p.env for p in processes if p.role is TaskQueue.INFERENCE] == [
        {"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}
    ]


def test_process_names_are_the_pools_then_an_index() -> None:
    assert process_name(TaskQueue.INGEST) == "pool-ingest"
    assert process_name("inference", 4) == "pool-inference-4"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"inference_processes": 3, "inference_gpus": "0,1"}, "SWATH_INFERENCE_PROCESSES=3 but SWATH_INFERENCE_GPUS"),
        ({"inference_processes": 1, "inference_gpus": "0,1"}, "names 2 devices"),
        ({"inference_gpus": "0,,1"}, "empty device id"),
        ({"inference_gpus": ""}, "empty device id"),
    ],
)
def test_settings_that_disagree_are_refused(fields: dict[str, object], named: str) -> None:
    with pytest.raises(PoolProcessesError, match=named):
        pool_processes(settings(**fields))


def test_fewer_than_one_process_is_not_a_setting() -> None:
    with pytest.raises(ValueError, match="inference_processes"):
        Settings(_env_file=None, inference_processes=0)


def test_swath_up_refuses_a_mismatch_in_one_line_before_starting_anything(tmp_path: Path) -> None:
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "SWATH_DATA_DIR": str(tmp_path / "data"),
        "SWATH_INFERENCE_PROCESSES": "3", "SWATH_INFERENCE_GPUS": "0,1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "swath.cli", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swath up: SWATH_INFERENCE_PROCESSES=3 but SWATH_INFERENCE_GPUS")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("index", ["-1", "one"])
def test_a_worker_process_refuses_an_index_that_is_not_0_or_more(index: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workers", "--pool", "inference", "--index", index],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "a process index is a whole number, 0 or more" in done.stderr and "Traceback" not in done.stderr
