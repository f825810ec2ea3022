"""Prometheus for `swath up --observe`: Debian's `/usr/bin/prometheus` scraping the API and every pool.

The scrape configuration is generated from the stack's ports and loads Swath's alert and recording
rules (`ops/prometheus/rules.yml`) when the checkout has them; its data lives under the stack's
data directory, so restarts keep the history.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import yaml

#: Swath's rules, next to the package in a checkout (not shipped in the wheel).
RULES_FILE = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "rules.yml"
#: Where Debian's `prometheus` package puts the server; `PATH` is looked at after it.
DEBIAN_BINARY = Path("/usr/bin/prometheus")
#: Local scrapes are cheap; a short interval makes a fresh stack's graphs fill quickly.
SCRAPE_INTERVAL = "5s"
#: The `namespace` label of every local target: Swath's rules tell deployments apart by it, as the
#: Prometheus Operator's Kubernetes namespace does in a cluster.
NAMESPACE = "local"


def find_prometheus() -> str | None:
    """The Prometheus server binary, or `None` when it is not installed."""
    if DEBIAN_BINARY.is_file():
        return str(DEBIAN_BINARY)
    return shutil.which("prometheus")


def scrape_config(
    *, api: str, pools: Mapping[str, tuple[str, str]], rules: Path | None = RULES_FILE, interval: str = SCRAPE_INTERVAL
) -> dict:
    """A Prometheus configuration scraping the API at `api` and each pool process (its name → its pool
    and `host:port`); a process's `instance` label is its name, so two processes of one pool stay apart.

    Every target is labelled `namespace="local"`; the Temporal SDK's own `namespace` label (the
    Temporal namespace) is then kept as `exported_namespace`, as under the Prometheus Operator.
    """
    config: dict = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "swath-api", "static_configs": [{"targets": [api], "labels": {"namespace": NAMESPACE}}]},
            {
                "job_name": "swath-pools",
                "static_configs": [
                    {"targets": [target], "labels": {"namespace": NAMESPACE, "pool": pool, "instance": name}}
                    for name, (pool, target) in pools.items()
                ],
            },
        ],
    }
    if rules is not None and rules.is_file():
        config["rule_files"] = [str(rules)]
    return config


def prometheus_argv(binary: str, *, config_file: Path, data_dir: Path, host: str, port: int) -> list[str]:
    """The command line of a Prometheus server with the given configuration and storage."""
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
    ]


def write_config(path: Path, config: dict) -> Path:
    """Write a configuration (YAML) for the server to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
