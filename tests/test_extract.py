"""Extraction of text, metadata and language from the formats users feed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from horizonscan.extract import ExtractionError, extract_bytes, extract_file, quality_flags, text_hash
from horizonscan.sources.inputs import expand_inputs
from tests.conftest import EXAMPLES, SEED_DE, SEED_FR, needs_seeds
from tests.support.pdf import make_pdf


def test_html_article_text_metadata_and_language() -> None:
    doc = extract_file(EXAMPLES / "desalacion-canarias.es.html")
    assert doc.language == "es"
    assert doc.title and "desaladoras flotantes" in doc.title
    assert doc.url == "https://diario.example.org/ciencia/desaladoras-flotantes-olas"
    assert doc.author == "Redacción de ejemplo"
    assert doc.date == "2026-10-02"
    assert "energía de las olas" in doc.text
    assert "Aviso legal" not in doc.text and "Suscríbete" not in doc.text  # boilerplate removed
    assert doc.flags == []


def test_markdown_title_and_text_file() -> None:
    md = extract_file(EXAMPLES / "repair-cafes-europe.en.md")
    assert md.title is not None and md.title.startswith("Repair cafés go mainstream")
    assert md.language == "en"
    de = extract_file(EXAMPLES / "waermepumpen-mittelstand.de.txt")
    assert de.language == "de" and de.title and de.title.startswith("Mittelständler")


@needs_seeds
def test_seed_languages() -> None:
    assert extract_file(SEED_FR).language == "fr"
    assert extract_file(SEED_DE).language == "de"


def test_pdf_text_and_metadata(tmp_path: Path) -> None:
    lines = [
        "Offshore wind farms in the North Sea will share one grid connection.",
        "The operators expect to save two billion euros over ten years.",
    ] * 4
    pdf = tmp_path / "wind.pdf"
    pdf.write_bytes(make_pdf(lines, title="Shared grid for wind farms", author="Energy Desk"))
    doc = extract_file(pdf)
    assert doc.content_type == "pdf"
    assert doc.title == "Shared grid for wind farms" and doc.author == "Energy Desk"
    assert doc.date == "2026-10-02"
    assert "one grid connection" in doc.text and doc.language == "en"


def test_bad_inputs_get_actionable_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(ExtractionError, match="PDF"):
        extract_file(tmp_path / "broken.pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ExtractionError, match=r"unsupported file type \.png"):
        extract_file(tmp_path / "image.png")
    (tmp_path / "empty.html").write_text("<html><body><script>x()</script></body></html>")
    with pytest.raises(ExtractionError, match="no article text"):
        extract_file(tmp_path / "empty.html")


def test_quality_flags() -> None:
    assert quality_flags("Short note.")[0].startswith("too short")
    stub = "Big news about batteries. " * 5 + "Subscribe to continue reading. Already a subscriber? Sign in."
    assert any("paywall" in f for f in quality_flags(stub * 2))
    assert any(
        "error page" in f for f in quality_flags("404 Not Found. " + "The page you requested is gone. " * 12)
    )
    assert quality_flags("A real article sentence about energy storage and grids. " * 10) == []


def test_text_hash_ignores_whitespace_only_changes() -> None:
    assert text_hash("a  b\n\nc") == text_hash("a b c")
    doc = extract_bytes(b"Hello world. " * 40, source="x", kind="text")
    assert doc.text_hash == text_hash("Hello world. " * 40)


def test_inputs_expand_folders_and_report_missing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text("x")
    (tmp_path / "c.png").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.txt").write_text("x")
    items = expand_inputs(
        [str(tmp_path), str(tmp_path / "nope.txt"), "ftp://example.org/x", "https://example.org/a"]
    )
    names = [Path(i.source).name for i in items if not i.is_url and not i.error]
    assert names == ["a.txt", "b.html"]
    errors = {Path(i.source).name if "://" not in i.source else i.source: i.error for i in items if i.error}
    assert errors["nope.txt"] == "no such file or folder"
    assert "http and https" in errors["ftp://example.org/x"]
    assert [i.source for i in items if i.is_url] == ["https://example.org/a"]
