"""Curation: what a team decides about articles and items (star, hide, note, reviewed).

A repository of its own over the Store's engine (`store.curation`). Decisions outlive
re-analyses: articles are keyed by id, items by their article and
`item_key(kind, name)`, since item rows are rewritten whenever an analysis is saved.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from horizonscan.models import Curation, CurationMarks
from horizonscan.store import dialect
from horizonscan.store.schema import utcnow
from horizonscan.store.schema_web import ArticleCurationRow, ItemCurationRow

MAX_NOTE_CHARS = 4000


def clean_note(note: str | None) -> str | None:
    """Notes are plain text: trimmed, at most MAX_NOTE_CHARS; empty means no note."""
    if note is None:
        return None
    note = note.replace("\r\n", "\n").strip()
    return note[:MAX_NOTE_CHARS] or None


class CurationRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ----- reads ----------------------------------------------------------------------------
    def marks(self) -> CurationMarks:
        """Every decision, for an export that carries them (publish/ never reads the store)."""
        return CurationMarks(articles=self.articles(), items=self.items())

    def articles(self, article_ids: Iterable[int] | None = None) -> dict[int, Curation]:
        """Curation of these articles (all curated articles when None); uncurated ones are absent."""
        q = select(ArticleCurationRow)
        wanted = None if article_ids is None else list(article_ids)
        out: dict[int, Curation] = {}
        with Session(self.engine) as s:
            chunks = [None] if wanted is None else [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
            for chunk in chunks:
                query = q if chunk is None else q.where(ArticleCurationRow.article_id.in_(chunk))
                for r in s.scalars(query):
                    out[r.article_id] = Curation(starred=r.starred, hidden=r.hidden, note=r.note)
        return out

    def article(self, article_id: int) -> Curation:
        return self.articles([article_id]).get(article_id, Curation())

    def items(self, article_ids: Iterable[int] | None = None) -> dict[tuple[int, str], Curation]:
        """(article id, item key) → curation, for these articles (all when None)."""
        q = select(ItemCurationRow)
        wanted = None if article_ids is None else list(article_ids)
        out: dict[tuple[int, str], Curation] = {}
        with Session(self.engine) as s:
            chunks = [None] if wanted is None else [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
            for chunk in chunks:
                query = q if chunk is None else q.where(ItemCurationRow.article_id.in_(chunk))
                for r in s.scalars(query):
                    out[(r.article_id, r.item_key)] = Curation(
                        starred=r.starred, hidden=r.hidden, note=r.note, reviewed=r.reviewed
                    )
        return out

    def reviewed_count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count(ItemCurationRow.id)).where(ItemCurationRow.reviewed)) or 0)

    # ----- writes ---------------------------------------------------------------------------
    def set_article(
        self,
        article_id: int,
        *,
        starred: bool | None = None,
        hidden: bool | None = None,
        note: str | None = None,
        clear_note: bool = False,
    ) -> Curation:
        """Change only the fields given (one upsert); raises IntegrityError for an unknown article."""
        values: dict[str, object] = {"updated_at": utcnow()}
        if starred is not None:
            values["starred"] = starred
        if hidden is not None:
            values["hidden"] = hidden
        if note is not None or clear_note:
            values["note"] = clean_note(note)
        stmt = dialect.insert(self.engine, ArticleCurationRow).values(
            article_id=article_id,
            starred=bool(values.get("starred", False)),
            hidden=bool(values.get("hidden", False)),
            note=values.get("note"),
            updated_at=values["updated_at"],
        )
        stmt = stmt.on_conflict_do_update(index_elements=[ArticleCurationRow.article_id], set_=values)
        with self.engine.begin() as conn:
            conn.execute(stmt)
        return self.article(article_id)

    def set_item(
        self,
        article_id: int,
        key: str,
        *,
        starred: bool | None = None,
        hidden: bool | None = None,
        reviewed: bool | None = None,
        note: str | None = None,
        clear_note: bool = False,
    ) -> Curation:
        values: dict[str, object] = {"updated_at": utcnow()}
        for name, value in (("starred", starred), ("hidden", hidden), ("reviewed", reviewed)):
            if value is not None:
                values[name] = value
        if note is not None or clear_note:
            values["note"] = clean_note(note)
        stmt = dialect.insert(self.engine, ItemCurationRow).values(
            article_id=article_id,
            item_key=key[:240],
            starred=bool(values.get("starred", False)),
            hidden=bool(values.get("hidden", False)),
            reviewed=bool(values.get("reviewed", False)),
            note=values.get("note"),
            updated_at=values["updated_at"],
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ItemCurationRow.article_id, ItemCurationRow.item_key], set_=values
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        return self.items([article_id]).get((article_id, key[:240]), Curation())
