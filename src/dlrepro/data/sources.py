"""Fetch upstream files, or read them from a local mirror, and verify their pinned checksums.

Setting DLREPRO_MIRROR to a folder makes every download read `<folder>/<dataset>/<file name>`
instead of the network (CI points it at ../shared/data). Checksums are of the payload: the
decompressed bytes where upstream gzips, so a re-compressed mirror file still verifies.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "DLREPRO_MIRROR"


class DataError(RuntimeError):
    """A dataset file is missing, unreachable, corrupt or not what was expected; says which."""


@dataclass(frozen=True)
class RemoteFile:
    dataset: str              # folder of the dataset in a mirror
    name: str                 # file name upstream and in the mirror
    urls: tuple[str, ...]     # base URLs, tried in order
    sha256: str               # of the payload (decompressed when the name ends in .gz)
    # "payload" (preferred) or "file": what upstream publishes a checksum of. Some datasets only
    # publish checksums of their compressed files; a re-compressed mirror copy then fails.
    sha256_of: str = "payload"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decompress(raw: bytes, name: str, origin: str) -> bytes:
    """The payload of a file: gunzipped when its name ends in .gz."""
    if not name.endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{origin}: corrupt or truncated gzip file ({exc})") from None


def verify(payload: bytes, expected_sha256: str, origin: str, what: str = "the payload") -> None:
    found = sha256_hex(payload)
    if found != expected_sha256:
        raise DataError(f"{origin}: checksum mismatch: sha256 of {what} is {found}, expected "
                        f"{expected_sha256}; the file is corrupt or not the pinned upstream version")


def _download(remote: RemoteFile, timeout_s: float) -> tuple[bytes, str]:
    failures = []
    for base in remote.urls:
        url = base + remote.name
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return response.read(), url
        except (urllib.error.URLError, OSError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DataError(f"could not download {remote.dataset}/{remote.name}:\n  " + "\n  ".join(failures)
                    + f"\nWithout network, set {MIRROR_ENV} to a folder holding {remote.dataset}/{remote.name}, "
                    "or use source: local with a copy you have.")


def fetch(remote: RemoteFile, timeout_s: float = 60.0) -> tuple[bytes, str]:
    """The verified payload of a remote file and where it was read from."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        path = Path(mirror) / remote.dataset / remote.name
        if not path.is_file():
            raise DataError(f"{path}: not found in the mirror folder {mirror} (set by {MIRROR_ENV})")
        raw, origin = path.read_bytes(), str(path)
    else:
        raw, origin = _download(remote, timeout_s)
    if remote.sha256_of == "file":
        verify(raw, remote.sha256, origin, "the file")
    payload = decompress(raw, remote.name, origin)
    if remote.sha256_of == "payload":
        verify(payload, remote.sha256, origin)
    return payload, origin
