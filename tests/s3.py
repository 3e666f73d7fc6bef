"""A local S3 server for the DVC remote's test: moto's server (the test extra installs it), on
127.0.0.1 and a free port, started by the test and stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

# moto accepts any credentials; DVC's S3 client needs some to sign its requests.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_server(log: Path, bucket: str):
    """Yields the endpoint URL of a running server holding an empty `bucket`."""
    binary = shutil.which("moto_server")
    if binary is None:
        pytest.skip("moto_server is not installed (the test extra `moto[server]` provides it)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        server = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {endpoint}: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        import boto3

        boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in CREDENTIALS.items()
                                                    if k != "AWS_DEFAULT_REGION"},
                     region_name=CREDENTIALS["AWS_DEFAULT_REGION"]).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
