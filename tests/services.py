"""Servers the tests start for real: a free port finder and an S3-compatible object store
(moto's server: a separate process speaking the S3 HTTP API, which s3fs talks to as it
would to AWS or MinIO)."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ObjectStoreServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "synth-test",
            "AWS_SECRET_ACCESS_KEY": "synth-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.endpoint, timeout=2)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the S3 test server (moto.server) did not start") from None
                time.sleep(0.1)

    def bucket(self) -> str:
        """A new empty bucket, as an s3:// URL."""
        name = f"synth-{secrets.token_hex(4)}"
        requests.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()
        return f"s3://{name}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None
