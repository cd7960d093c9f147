"""Content-addressed archive of raw fetched bytes.

Keeping the exact bytes we fetched lets later stages re-extract or re-analyse without
refetching (pages change or vanish). Objects are named by the sha256 of the *uncompressed*
bytes, stored zlib-compressed under sharded directories (``ab/cdef...``) so no directory
grows huge, and written via temp file + rename so a crash never leaves a half-written object.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from pathlib import Path

__all__ = ["RawArchive"]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class RawArchive:
    """A directory of zlib-compressed blobs keyed by sha256 hex digest."""

    def __init__(self, root: Path, *, level: int = 6) -> None:
        self.root = Path(root)
        self.level = level

    def _path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    @staticmethod
    def digest_of(data: bytes) -> str:
        """The key ``put`` would use, without storing anything."""
        return hashlib.sha256(data).hexdigest()

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent: an existing object is left alone) and return its digest."""
        digest = self.digest_of(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(data, self.level))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        """Return the bytes stored under ``digest``; KeyError if absent, ValueError if corrupt."""
        path = self._path(digest)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(digest) from None
        data = zlib.decompress(blob)
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"archive object {digest} is corrupt")
        return data

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and bool(_DIGEST.match(digest)) and self._path(digest).exists()

    def path_for(self, digest: str) -> Path:
        """Where the object lives on disk (for diagnostics and cleanup tools)."""
        return self._path(digest)
