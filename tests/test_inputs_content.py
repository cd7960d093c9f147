"""Local inputs are judged by their bytes: what is not an article never reaches the LLM, a
mostly-UTF-8 file stays UTF-8, and local files have a size cap like fetched pages."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import zipfile
from pathlib import Path

import pytest

from horizonscan.extract import ExtractionError, binary_kind, decode_text, extract_bytes, extract_file
from tests.conftest import EXAMPLES
from tests.support.articles import article_text
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

FR = EXAMPLES / "lyon-navettes-autonomes.fr.txt"
HTML = EXAMPLES / "desalacion-canarias.es.html"


def _zip(members: dict[str, bytes], *, stored_first: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        if stored_first is not None:
            z.writestr(zipfile.ZipInfo("mimetype"), stored_first)
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _impostors() -> dict[str, tuple[bytes, str]]:
    """name → (bytes, what the refusal must say). Every name claims a supported kind."""
    text = article_text(1).encode()
    rng = random.Random(7)
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document>" + text})
    odt = _zip({"content.xml": text}, stored_first="application/vnd.oasis.opendocument.text")
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + rng.randbytes(2000)
    pe = bytearray(b"MZ" + bytes(58) + (128).to_bytes(4, "little") + bytes(64) + b"PE\x00\x00")
    pe += b"This program cannot be run in DOS mode. " * 20
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + rng.randbytes(500)
    return {
        "report.docx.txt": (docx, "Word"),
        "notes.md": (odt, "OpenDocument"),
        "notes.txt": (png, "image (PNG)"),
        "photo.html": (b"\xff\xd8\xff\xe0\x00\x10JFIF" + rng.randbytes(800), "image (JPEG)"),
        "tool.txt": (elf, "executable (ELF)"),
        "setup.md": (bytes(pe), "executable (Windows PE)"),
        "article.txt.gz.txt": (gzip.compress(text), "compressed"),
        "archive.md": (bz2.compress(text), "compressed data (bzip2)"),
        "data.txt": (lzma.compress(text), "compressed data (xz)"),
        "frame.txt": (b"\x28\xb5\x2f\xfd" + rng.randbytes(300), "compressed data (zstd)"),
        "bundle.txt": (_zip({"a.txt": text}), "archive (zip)"),
        "noise.txt": (rng.randbytes(4000), "binary"),
        "noise-small.md": (bytes(b for b in rng.randbytes(3000) if b), "binary"),
    }


@pytest.mark.parametrize("name", sorted(_impostors()))
def test_non_articles_are_refused_by_content_whatever_their_name(tmp_path: Path, name: str) -> None:
    data, what = _impostors()[name]
    assert binary_kind(data) is not None or data[:2] == b"\x1f\x8b"
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ExtractionError, match=what.replace("(", r"\(").replace(")", r"\)")):
        extract_file(path)


def test_impostors_never_reach_the_llm_in_a_folder_or_named(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    impostors = _impostors()
    for name, (data, _) in impostors.items():
        (folder / name).write_bytes(data)
    run = run_cli("analyze", str(folder), *batch_args(tmp_path))
    assert run.code == 1
    results = {Path(r["source"]).name: r for r in run.json()["results"]}
    assert set(results) == set(impostors)
    for name, (_, what) in impostors.items():
        assert results[name]["status"] == "failed"
        assert what in results[name]["error"] and "not an article" in results[name]["error"]
    # Named one by one, and through `extract`: refused the same way.
    named = run_cli("analyze", str(folder / "notes.txt"), str(folder / "tool.txt"), *batch_args(tmp_path))
    assert named.code == 1 and all(r["status"] == "failed" for r in named.json()["results"])
    assert openai_env.requests == []
    extracted = run_cli("extract", str(folder / "notes.txt"))
    assert extracted.code == 1 and "image (PNG)" in extracted.stdout


def test_compressed_html_is_opened_within_the_caps(openai_env: MockLLMServer, tmp_path: Path) -> None:
    page = HTML.read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "saved.html.gz").write_bytes(gzip.compress(page))
    (folder / "mystery.html").write_bytes(gzip.compress(page))  # gzip bytes holding HTML, any name
    doc = extract_file(folder / "saved.html.gz")
    assert doc.language == "es" and "energía de las olas" in doc.text
    run = run_cli("analyze", str(folder), *batch_args(tmp_path))
    assert run.code == 0, run.stdout
    statuses = sorted(r["status"] for r in run.json()["results"])
    assert statuses == ["analyzed", "reused"]  # the same text twice: one call
    assert len(openai_env.requests) == 1
    # A gzip bomb stops at the cap for fetched pages (50 MB after decompression).
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<html><body><p>" + b"a" * (60 * 1024 * 1024)))
    with pytest.raises(ExtractionError, match="over 50 MB after decompression"):
        extract_file(bomb)


def test_one_bad_byte_does_not_turn_a_utf8_article_into_mojibake(tmp_path: Path) -> None:
    text = FR.read_text(encoding="utf-8")
    assert "é" in text
    data = text.encode("utf-8")
    cut = data.index(b". ") + 1
    damaged = data[:cut] + b"\xff" + data[cut:]
    path = tmp_path / "fr.txt"
    path.write_bytes(damaged)
    doc = extract_file(path)
    assert doc.text.count("\ufffd") == 1
    assert doc.text.replace("\ufffd", "") == text.strip()
    assert "Ã" not in doc.text and doc.language == "fr"
    # A text really in another charset is still detected as such.
    latin = "Le conseil a approuvé la création d'une régie pour les navettes électriques. " * 8
    assert decode_text(latin.encode("latin-1")) == latin
    cp1252 = "L’été dernier, la ville a testé des navettes – sans chauffeur – à Lyon. " * 8
    assert decode_text(cp1252.encode("cp1252")) == cp1252
    # HTML with a declared charset and no UTF-8 at all follows its declaration.
    html = (
        f'<html><head><meta charset="iso-8859-1"><title>Été</title></head><body><p>{latin}</p></body></html>'
    )
    assert "régie" in extract_bytes(html.encode("latin-1"), source="x.html", kind="html").text


def test_local_files_have_a_size_cap_that_names_its_setting(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.txt"
    big.write_text(article_text(3, paragraphs=20), encoding="utf-8")  # about 5.5 KB
    with pytest.raises(ExtractionError, match=r"too large: \d KB, over the 4 KB cap for local files"):
        extract_file(big, max_bytes=4 * 1024)
    monkeypatch.setenv("HORIZONSCAN_MAX_FILE_MB", "0.004")  # about 4 KB
    run = run_cli("analyze", str(big), *batch_args(tmp_path))
    assert run.code == 1
    error = run.json()["results"][0]["error"]
    assert "too large" in error and "4 KB cap" in error and "max_file_mb" in error
    assert openai_env.requests == []
    monkeypatch.setenv("HORIZONSCAN_MAX_FILE_MB", "1")
    assert run_cli("analyze", str(big), *batch_args(tmp_path)).code == 0
