"""Raw-bytes archive: content addressing, compression, idempotence, integrity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from horizonscan.sources.archive import RawArchive


def test_put_get_roundtrip(tmp_path: Path) -> None:
    arc = RawArchive(tmp_path / "raw")
    data = b"<html>" + b"hello " * 1000 + b"</html>"
    digest = arc.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = arc.path_for(digest)
    assert path.parent.name == digest[:2] and path.name == digest[2:]
    assert path.stat().st_size < len(data)  # compressed
    assert arc.get(digest) == data and digest in arc
    assert arc.put(data) == digest  # idempotent
    assert not list(path.parent.glob(".tmp-*"))  # no temp files left behind


def test_missing_and_corrupt(tmp_path: Path) -> None:
    arc = RawArchive(tmp_path)
    with pytest.raises(KeyError):
        arc.get("0" * 64)
    with pytest.raises(ValueError):
        arc.get("../etc/passwd")
    digest = arc.put(b"abc")
    import zlib

    arc.path_for(digest).write_bytes(zlib.compress(b"tampered"))
    with pytest.raises(ValueError, match="corrupt"):
        arc.get(digest)
    assert arc.put(b"") == hashlib.sha256(b"").hexdigest() and arc.get(arc.digest_of(b"")) == b""
