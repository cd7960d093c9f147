"""Turn what the user typed (files, folders, URLs) into a list of inputs to analyze.

A folder is walked for the files an article can be in, but never into horizonscan's own output
(the pages folder, the database and its -wal/-shm files, the raw archive), nor into hidden
folders, virtual environments or dependency caches: `analyze .` run twice must find nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from horizonscan.extract import kind_of, supported_names
from horizonscan.sources.links import canonicalize_url

URL_PREFIXES = ("http://", "https://")
# Folders that never hold articles, only tools and their caches.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
INDEX_MARK = "# horizonscan index"
OWN_OUTPUT = "this is horizonscan's own output (pages, database or raw archive), not an article"


@dataclass(frozen=True)
class Input:
    source: str  # resolved path or URL: the article's identity in the store
    is_url: bool = False
    error: str | None = None  # set when the input cannot be used at all


def _resolved(paths: Iterable[Path | None]) -> set[Path]:
    out: set[Path] = set()
    for p in paths:
        if p is not None:
            try:
                out.add(Path(p).expanduser().resolve())
            except OSError:
                continue
    return out


def own_outputs(out: Path, db: Path, archive: Path) -> set[Path]:
    """Every path horizonscan writes for these settings (pages, database files, raw archive)."""
    db = Path(db)
    return _resolved(
        [out, db, archive, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
         db.with_name(db.name + "-journal")]
    )  # fmt: skip


def _is_output_folder(folder: Path) -> bool:
    """A pages folder written by horizonscan (under any name): its index says so."""
    index = folder / "index.md"
    try:
        with index.open("rb") as fh:
            return fh.read(len(INDEX_MARK)).decode("utf-8", "replace") == INDEX_MARK
    except OSError:
        return False


def _is_tool_folder(folder: Path, name: str) -> bool:
    return name in SKIPPED_DIRS or (folder / "pyvenv.cfg").is_file()


def _walk(root: Path, excluded: set[Path]) -> list[Path]:
    """Supported files under `root`, sorted, pruning excluded, hidden and tool folders as it goes."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        keep = []
        for d in sorted(dirs):
            sub = here / d
            if d.startswith(".") or _is_tool_folder(sub, d) or sub.resolve() in excluded:
                continue
            if _is_output_folder(sub):
                continue
            keep.append(d)
        dirs[:] = keep
        for f in files:
            path = here / f
            if f.startswith(".") or kind_of(path) is None or path.resolve() in excluded:
                continue
            if path.is_file():
                found.append(path)
    return sorted(found)


def expand_inputs(args: list[str], *, exclude: Iterable[Path] = ()) -> list[Input]:
    """Files as given, folders by their supported files (recursively, sorted), URLs as given.

    `exclude` holds horizonscan's own outputs (see `own_outputs`): never walked into, and
    refused with a reason when named explicitly.
    """
    excluded = _resolved(exclude)
    out: list[Input] = []
    seen: set[str] = set()

    def add(item: Input) -> None:
        if item.source not in seen:
            seen.add(item.source)
            out.append(item)

    def own(path: Path) -> bool:
        return any(path == e or e in path.parents for e in excluded)

    for arg in args:
        if arg.lower().startswith(URL_PREFIXES):
            add(Input(canonicalize_url(arg.strip()), is_url=True))
            continue
        if "://" in arg:
            add(Input(arg, error="only http and https URLs are supported"))
            continue
        path = Path(arg).expanduser()
        if path.is_dir():
            root = path.resolve()
            if own(root) or _is_output_folder(root):
                add(Input(str(root), error=OWN_OUTPUT))
                continue
            files = _walk(path, excluded)
            if not files:
                add(Input(str(root), error=f"the folder has no {supported_names()} files"))
            for f in files:
                add(Input(str(f.resolve())))
        elif path.is_file():
            resolved = path.resolve()
            if own(resolved) or _is_output_folder(resolved.parent):
                add(Input(str(resolved), error=OWN_OUTPUT))
            else:
                add(Input(str(resolved)))
        else:
            add(Input(str(path), error="no such file or folder"))
    return out
