"""Turn what the user typed (files, folders, URLs) into a list of inputs to analyze."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from horizonscan.extract import SUPPORTED_SUFFIXES
from horizonscan.sources.links import canonicalize_url

URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class Input:
    source: str  # resolved path or URL: the article's identity in the store
    is_url: bool = False
    error: str | None = None  # set when the input cannot be used at all


def expand_inputs(args: list[str]) -> list[Input]:
    """Files as given, folders by their supported files (recursively, sorted), URLs as given."""
    out: list[Input] = []
    seen: set[str] = set()

    def add(item: Input) -> None:
        if item.source not in seen:
            seen.add(item.source)
            out.append(item)

    for arg in args:
        if arg.lower().startswith(URL_PREFIXES):
            add(Input(canonicalize_url(arg.strip()), is_url=True))
            continue
        if "://" in arg:
            add(Input(arg, error="only http and https URLs are supported"))
            continue
        path = Path(arg).expanduser()
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                add(
                    Input(
                        str(path.resolve()),
                        error=f"the folder has no {'/'.join(sorted(SUPPORTED_SUFFIXES))} files",
                    )
                )
            for f in files:
                add(Input(str(f.resolve())))
        elif path.is_file():
            add(Input(str(path.resolve())))
        else:
            add(Input(str(path), error="no such file or folder"))
    return out
