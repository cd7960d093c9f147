"""HTML / PDF / text in, clean text + metadata + language out.

Inputs are judged by their bytes, not their names: documents, images, executables, archives,
compressed data and random bytes are refused with a reason before anything reaches a model.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from horizonscan.extract.language import detect_language
from horizonscan.models import Document, Origin

SUPPORTED_SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
# Compressed HTML (a saved page) is opened, within the caps fetched pages have.
COMPRESSED_HTML_SUFFIXES = (".html.gz", ".htm.gz")
MIN_ARTICLE_CHARS = 300
MB = 1024 * 1024
# The same caps as fetched pages (sources/fetch.py): 15 MB read, 50 MB after decompression.
MAX_FILE_BYTES = 15 * MB
MAX_DECOMPRESSED_BYTES = 50 * MB

_PAYWALL = re.compile(
    r"(subscribe (now )?to (continue|keep) reading|this (article|content) is (only )?(available )?"
    r"for (subscribers|members)|already a subscriber\?|abonnez-vous pour lire|réservé aux abonnés"
    r"|nur für abonnenten|jetzt abonnieren und weiterlesen|sign in to read the full)",
    re.I,
)
_ERROR_PAGE = re.compile(
    r"^(404|403|500|page not found|not found|access denied|forbidden|error\b|"
    r"please enable javascript|enable javascript and cookies|just a moment|attention required)",
    re.I,
)


class ExtractionError(Exception):
    """The input could not be turned into text; the message says why and what to do."""


def text_hash(text: str) -> str:
    """Identity of an article's text: whitespace-insensitive, so re-extractions match."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode("utf-8")).hexdigest()


def raw_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kind_of(path: Path) -> str | None:
    """The kind a file's name announces (its content has the last word, see `extract_bytes`)."""
    if path.name.lower().endswith(COMPRESSED_HTML_SUFFIXES):
        return "html"
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


def supported_names() -> str:
    return " ".join(sorted(SUPPORTED_SUFFIXES)) + " " + " ".join(COMPRESSED_HTML_SUFFIXES)


def _fmt_mb(n: float) -> str:
    if n >= MB:
        return f"{n / MB:.1f}".removesuffix(".0") + " MB"
    return f"{n / 1024:.0f} KB"


def read_local_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A local file's bytes, refused before reading when it is over the cap (or not a regular file)."""
    try:
        info = path.stat()
        if not path.is_file():
            raise ExtractionError("not a regular file; give a file or a folder")
        if info.st_size > max_bytes:
            raise ExtractionError(
                f"too large: {_fmt_mb(info.st_size)}, over the {_fmt_mb(max_bytes)} cap for local files "
                "(setting max_file_mb, env HORIZONSCAN_MAX_FILE_MB)"
            )
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ExtractionError(f"cannot read the file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # it grew while we looked
        raise ExtractionError(
            f"too large: over the {_fmt_mb(max_bytes)} cap for local files "
            "(setting max_file_mb, env HORIZONSCAN_MAX_FILE_MB)"
        )
    return data


# --------------------------------------------------------------------------- content judgement

_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_MAGIC: list[tuple[int, bytes, str]] = [  # (offset, bytes, what it is)
    (0, b"\x89PNG\r\n\x1a\n", "an image (PNG)"),
    (0, b"\xff\xd8\xff", "an image (JPEG)"),
    (0, b"GIF87a", "an image (GIF)"),
    (0, b"GIF89a", "an image (GIF)"),
    (0, b"II*\x00", "an image (TIFF)"),
    (0, b"MM\x00*", "an image (TIFF)"),
    (0, b"\x00\x00\x01\x00", "an image (ICO)"),
    (0, b"8BPS", "an image (Photoshop)"),
    (0, b"\x7fELF", "an executable (ELF)"),
    (0, b"\xfe\xed\xfa\xce", "an executable (Mach-O)"),
    (0, b"\xfe\xed\xfa\xcf", "an executable (Mach-O)"),
    (0, b"\xce\xfa\xed\xfe", "an executable (Mach-O)"),
    (0, b"\xcf\xfa\xed\xfe", "an executable (Mach-O)"),
    (0, b"\xca\xfe\xba\xbe", "an executable (Mach-O or Java class)"),
    (0, b"\x00asm", "an executable (WebAssembly)"),
    (0, b"\x1f\x8b", "compressed data (gzip)"),
    (0, b"\xfd7zXZ\x00", "compressed data (xz)"),
    (0, b"\x28\xb5\x2f\xfd", "compressed data (zstd)"),
    (0, b"\x04\x22\x4d\x18", "compressed data (lz4)"),
    (0, b"7z\xbc\xaf\x27\x1c", "an archive (7z)"),
    (0, b"Rar!\x1a\x07", "an archive (RAR)"),
    (257, b"ustar", "an archive (tar)"),
    (0, b"SQLite format 3\x00", "a database (SQLite)"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a document (legacy Office .doc/.xls/.ppt)"),
    (0, b"{\\rtf", "a document (RTF)"),
    (0, b"ID3", "audio (MP3)"),
    (0, b"OggS", "audio or video (Ogg)"),
    (0, b"fLaC", "audio (FLAC)"),
    (0, b"\x1a\x45\xdf\xa3", "a video (Matroska/WebM)"),
    (0, b"wOFF", "a font (WOFF)"),
    (0, b"wOF2", "a font (WOFF2)"),
]
_ZIP_KINDS = [
    ("word/", "a document (Word .docx)"),
    ("xl/", "a spreadsheet (Excel .xlsx)"),
    ("ppt/", "a presentation (PowerPoint .pptx)"),
]
_ODF = re.compile(rb"mimetypeapplication/vnd\.oasis\.opendocument\.(\w+)")
# C0 controls other than tab, newline, vertical tab, form feed and carriage return, and DEL.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32), 127])


def _zip_kind(data: bytes) -> str:
    odf = _ODF.search(data[:200])
    if odf:
        return f"a document (OpenDocument .od{odf.group(1)[:1].decode()})"
    if b"application/epub+zip" in data[:200]:
        return "an e-book (EPUB)"
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "an archive (zip)"
    for prefix, what in _ZIP_KINDS:
        if any(n.startswith(prefix) for n in names):
            return what
    return "an archive (zip)"


def binary_kind(data: bytes) -> str | None:
    """What the bytes are when they are not text, HTML or PDF; None when they may be an article.

    Magic numbers first (documents, images, executables, archives, compressed data), then the
    share of control bytes, which sorts random or unknown binary data from text in any encoding.
    """
    if data.lstrip()[:5] == b"%PDF-":
        return None
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    for offset, magic, what in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return what
    if data.startswith(b"BZh") and data[4:10] == b"1AY&SY":
        return "compressed data (bzip2)"
    if data.startswith(b"BM") and data[6:10] == b"\x00\x00\x00\x00" and len(data) > 26:
        return "an image (BMP)"
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "an image (WebP)", b"WAVE": "audio (WAV)"}.get(data[8:12], "a video (AVI)")
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "an image (HEIC/AVIF)" if brand in (b"heic", b"heix", b"avif", b"mif1") else "a video (MP4)"
    if data.startswith(b"MZ") and len(data) >= 64:
        pe = int.from_bytes(data[60:64], "little")
        if data[pe : pe + 4] == b"PE\x00\x00" or data[2:60].count(b"\x00") > 20:
            return "an executable (Windows PE)"
    if data.startswith(_BOMS[:2]) or data.startswith(_BOMS[3:]):
        return None  # UTF-16/32 text: its NUL bytes are part of the encoding
    sample = data[: 64 * 1024]
    if not sample:
        return None
    if b"\x00" in sample:
        return "binary data (it contains NUL bytes)"
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls > max(2, len(sample) // 100):
        return "binary or random bytes (not text in any encoding)"
    return None


def refusal(what: str) -> str:
    """The one-line reason a non-article input is refused, with what to do about it."""
    if what.startswith(("a document", "a spreadsheet", "a presentation", "an e-book")):
        hint = "save it as PDF, HTML or plain text and analyze that"
    elif what.startswith("compressed"):
        hint = "decompress it first (only gzip-compressed HTML is opened as it is)"
    else:
        hint = "horizonscan reads HTML, PDF, Markdown and plain text"
    return f"this is {what}, not an article: {hint}"


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip within `limit` bytes of output (a gzip bomb stops at the cap)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        while data:
            out += d.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise ExtractionError(
                    f"too large: over {_fmt_mb(limit)} after decompression (the cap for fetched pages)"
                )
            if d.unconsumed_tail:
                data = d.unconsumed_tail
                continue
            if d.eof and d.unused_data[:2] == b"\x1f\x8b":  # concatenated gzip members
                data = d.unused_data
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            break
    except zlib.error as exc:
        raise ExtractionError(f"corrupt gzip data ({exc}); check the file") from exc
    return bytes(out)


def sniff_kind(data: bytes, content_type: str | None = None) -> str | None:
    """Guess the kind of raw bytes from magic numbers, then the declared content type."""
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head or b"<head" in head:
        return "html"
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/html", "application/xhtml+xml"):
        return "html"
    if ct == "application/pdf":
        return "pdf"
    if ct in ("text/plain", "text/markdown", ""):
        return "text"
    return None


def quality_flags(text: str, *, min_chars: int = MIN_ARTICLE_CHARS) -> list[str]:
    """Reasons an extracted text is probably not an article (skipped unless --force)."""
    flags = []
    stripped = text.strip()
    if len(stripped) < min_chars:
        flags.append(f"too short ({len(stripped)} characters; an article has at least {min_chars})")
    if _PAYWALL.search(stripped[:3000]) and len(stripped) < 2500:
        flags.append("looks like a paywall stub")
    if _ERROR_PAGE.match(stripped[:200]) and len(stripped) < 1500:
        flags.append("looks like an error page")
    return flags


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w:.-]+)""", re.I)


def _declared_charset(data: bytes) -> str | None:
    m = _META_CHARSET.search(data[:4096])
    if m is None:
        return None
    try:
        return codecs.lookup(m.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def decode_text(data: bytes, *, html: bool = False) -> str:
    """Bytes to text: a BOM decides; valid UTF-8 is UTF-8; *mostly* valid UTF-8 stays UTF-8.

    One bad byte in a UTF-8 file becomes one U+FFFD instead of turning the whole text into
    mojibake through charset detection, which is kept for texts that really are in another
    encoding (their non-ASCII bytes are mostly invalid UTF-8).
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return data.decode("utf-32", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    good = sum(1 for c in text if c > "\x7f") - text.count("\ufffd")
    if good > 0 and bad * 20 <= good:  # at most one bad sequence in 20 non-ASCII characters
        return text
    declared = _declared_charset(data) if html else None
    if declared and declared not in ("utf-8", "utf-16", "utf-32"):
        return data.decode(declared, "replace")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("cp1252", "replace")


def _from_text(raw: str, markdown: bool) -> dict[str, Any]:
    text = raw.replace("\r\n", "\n").strip()
    title = None
    first, _, rest = text.partition("\n")
    candidate = first.strip().lstrip("#").strip().strip("_*").strip() if markdown else first.strip()
    if candidate and len(candidate) <= 200 and rest.strip():
        title = candidate
    return {"title": title, "text": text}


def _from_html(raw: bytes, url: str | None) -> dict[str, Any]:
    import trafilatura

    html = decode_text(raw, html=True)
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True, favor_recall=False
    )
    if doc is None:
        return {"text": ""}
    data: dict[str, Any] = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    return {
        "title": data.get("title"),
        "author": data.get("author"),
        "date": data.get("date"),
        "url": data.get("url") or url,
        "text": data.get("text") or "",
        "language": data.get("language"),
    }


def _from_pdf(raw: bytes) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # pypdf raises several types here
                raise ExtractionError("the PDF is encrypted; save an unlocked copy and retry") from exc
        pages = [(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
    except PdfReadError as exc:
        raise ExtractionError(f"not a readable PDF ({exc}); check the file") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    title = str(meta.title).strip() if meta and meta.title else None
    author = str(meta.author).strip() if meta and meta.author else None
    date = meta.creation_date.date().isoformat() if meta and meta.creation_date else None
    if not text.strip():
        raise ExtractionError("the PDF has no text layer (scanned images?); OCR it first")
    return {"title": title, "author": author, "date": date, "text": text}


def extract_bytes(
    data: bytes,
    *,
    source: str,
    kind: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    origin: Origin | None = None,
    max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Document:
    """Text and metadata of one input, judged by its bytes: `kind` (from a name or a header) is
    overruled by the content, and anything that is not text, HTML or PDF is refused."""
    raw = data
    if data[:2] == b"\x1f\x8b":  # gzip: opened only when it holds HTML
        data = _gunzip(data, max_decompressed_bytes)
        if sniff_kind(data) != "html" or binary_kind(data) is not None:
            raise ExtractionError(refusal("compressed data (gzip) that holds no HTML page"))
        kind = "html"
    what = binary_kind(data)
    if what is not None:
        raise ExtractionError(refusal(what))
    if data.lstrip()[:5] == b"%PDF-":
        kind = "pdf"
    kind = kind or sniff_kind(data, content_type)
    if kind is None:
        raise ExtractionError(
            f"unsupported content ({content_type or 'unknown type'}); "
            "horizonscan reads HTML, PDF, Markdown and plain text"
        )
    if kind == "html":
        fields = _from_html(data, url)
    elif kind == "pdf":
        fields = _from_pdf(data)
    else:
        decoded = decode_text(data)
        if decoded.count("\ufffd") > max(3, len(decoded) // 50):
            raise ExtractionError(refusal("binary or random bytes (not text in any encoding)"))
        fields = _from_text(decoded, markdown=(kind == "markdown"))
    text = (fields.get("text") or "").strip()
    if not text:
        raise ExtractionError(
            "no article text found in the page (empty, script-only or blocked); "
            "save the article as HTML or text and analyze the file"
        )
    return Document(
        source=source,
        url=fields.get("url") or url,
        title=fields.get("title") or None,
        author=fields.get("author") or None,
        date=fields.get("date") or None,
        language=detect_language(text) or fields.get("language"),
        text=text,
        text_hash=text_hash(text),
        raw_hash=raw_hash(raw),
        content_type=kind,
        origin=origin,
        flags=quality_flags(text),
    )


def extract_file(path: Path, *, origin: Origin | None = None, max_bytes: int = MAX_FILE_BYTES) -> Document:
    kind = kind_of(path)
    if kind is None:
        raise ExtractionError(
            f"unsupported file type {path.suffix or '(none)'}; "
            f"use one of {', '.join(sorted(SUPPORTED_SUFFIXES))} or {', '.join(COMPRESSED_HTML_SUFFIXES)}"
        )
    data = read_local_file(path, max_bytes=max_bytes)
    return extract_bytes(data, source=str(path), kind=kind, origin=origin)
