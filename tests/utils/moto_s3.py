"""moto's S3 server on a loopback thread, and settings that point a Swath process at it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests
from moto.moto_api import recorder
from moto.server import ThreadedMotoServer

from swath.blobstore.object_store import MIN_PART_BYTES

BUCKET = "swath-test"
REGION = "us-east-1"
#: moto accepts any credentials; explicit ones keep obstore off every credential chain.
ACCESS_KEY_ID = "moto-test-key"
SECRET_ACCESS_KEY = "moto-test-secret"


@dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server with one bucket."""

    endpoint: str

    def settings(self, prefix: str | None = None) -> dict[str, object]:
        """`Settings` fields for a blob store under a fresh (or the given) prefix of the bucket."""
        return {
            "blob_url": f"s3://{BUCKET}/{prefix or uuid.uuid4().hex}",
            "blob_endpoint": self.endpoint,
            "blob_region": REGION,
            "blob_access_key_id": ACCESS_KEY_ID,
            "blob_secret_access_key": SECRET_ACCESS_KEY,
            "blob_allow_http": True,
            "blob_part_size": MIN_PART_BYTES,
        }

    def keys(self, prefix: str) -> list[str]:
        """Every object key in the bucket under `prefix/`, read by a second client (boto3)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    @contextmanager
    def recording(self, log: Path) -> Iterator[Callable[[str], int]]:
        """Record the requests the server answers (moto's recorder, writing to `log`); yields a
        function that tells the bytes the server sent in answer to GETs of one object key: each
        ranged GET its range (clipped to the object), a GET without `Range` the whole object."""
        recorder._location = str(log)  # moto names the file only by an environment variable read at import
        requests.post(f"{self.endpoint}/moto-api/recorder/reset-recording", timeout=10).raise_for_status()
        requests.post(f"{self.endpoint}/moto-api/recorder/start-recording", timeout=10).raise_for_status()

        def bytes_sent(key: str) -> int:
            size = self.client().head_object(Bucket=BUCKET, Key=key)["ContentLength"]
            sent = 0
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                if entry["method"] != "GET" or entry["url"].split("?")[0].split(f"/{BUCKET}/", 1)[-1] != key:
                    continue
                ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", entry["headers"].get("Range", "").strip())
                if ranged is None:
                    sent += size
                else:
                    start, end = int(ranged[1]), int(ranged[2] or size - 1)
                    sent += max(0, min(end + 1, size) - start)
            return sent

        try:
            yield bytes_sent
        finally:
            requests.post(f"{self.endpoint}/moto-api/recorder/stop-recording", timeout=10).raise_for_status()

    def client(self):  # noqa: ANN201 - boto3's client types are generated
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
        )  # fmt: skip


@contextmanager
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 on 127.0.0.1 (a free port) with the test bucket created."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = MotoS3(endpoint=f"http://{host}:{port}")
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()
