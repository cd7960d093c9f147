"""What the similarity stage keeps per text: its signature (embeddings, entities, numbers, links)
and its MinHash LSH band keys (near-duplicate candidates)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import func, select, text

from horizonscan.store import dialect
from horizonscan.store.base import Repository
from horizonscan.store.schema import NearDupKeyRow, SignatureRow


class SignatureRepo(Repository):
    def signature_rows(self, text_hashes: Iterable[str] | None = None) -> dict[str, SignatureRow]:
        with self.session() as s:
            if text_hashes is None:
                return {r.text_hash: r for r in s.scalars(select(SignatureRow))}
            wanted = list(set(text_hashes))
            out: dict[str, SignatureRow] = {}
            for i in range(0, len(wanted), 500):
                rows = s.scalars(select(SignatureRow).where(SignatureRow.text_hash.in_(wanted[i : i + 500])))
                out.update({r.text_hash: r for r in rows})
            return out

    def add_signature_rows(self, rows: Iterable[SignatureRow]) -> None:
        rows = list(rows)
        with self.session() as s:
            for row in rows:
                s.merge(row)
        if dialect.has_embeddings(self.engine):
            self._put_embeddings(rows)

    # ----- pgvector (PostgreSQL with the extension; see dialect.has_embeddings) ------------------
    def _put_embeddings(self, rows: list[SignatureRow]) -> int:
        values = [
            {"h": r.text_hash, "d": int(r.dim), "e": dialect.vector_literal(_first(r.vector, r.dim))}
            for r in rows
        ]
        if not values:
            return 0
        with self.engine.begin() as conn:
            for dim in {int(r.dim) for r in rows}:
                dialect.ensure_hnsw(conn, dim)
            conn.execute(text(dialect.upsert_embeddings_sql()), values)
        return len(values)

    def sync_embeddings(self, batch: int = 500) -> int:
        """Copy into pgvector every signature that is not there yet (after `migrate-db`, which
        copies tables as they are); a no-op without pgvector."""
        if not dialect.has_embeddings(self.engine):
            return 0
        done = 0
        while True:
            with self.session() as s:
                missing = list(
                    s.scalars(
                        select(SignatureRow)
                        .where(
                            SignatureRow.text_hash.not_in(
                                select(text("text_hash")).select_from(text(dialect.EMBEDDINGS))
                            )
                        )
                        .limit(batch)
                    )
                )
            if not missing:
                return done
            done += self._put_embeddings(missing)

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[str, float]] | None:
        """The `k` texts whose embedding is closest to `vector` (cosine), through pgvector's
        HNSW index; None where there is no pgvector (the caller searches in process)."""
        if not dialect.has_embeddings(self.engine):
            return None
        dim = int(vector.shape[-1])
        with self.engine.begin() as conn:
            rows = conn.execute(
                text(dialect.nearest_sql(dim)), {"q": dialect.vector_literal(vector), "k": int(k)}
            ).all()
        return [(str(h), float(c)) for h, c in rows]

    def neardup_candidates(self, keys: Iterable[str]) -> dict[str, int]:
        """Texts sharing LSH band keys with these, and how many keys each shares."""
        wanted = list(keys)
        if not wanted:
            return {}
        with self.session() as s:
            rows = s.execute(
                select(NearDupKeyRow.text_hash, func.count())
                .where(NearDupKeyRow.key.in_(wanted))
                .group_by(NearDupKeyRow.text_hash)
            )
            return {h: int(n) for h, n in rows}

    def add_neardup_keys(self, text_hash: str, keys: Iterable[str]) -> None:
        rows = [{"key": k, "text_hash": text_hash} for k in set(keys)]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(dialect.insert_ignore(conn, NearDupKeyRow), rows)


def _first(blob: bytes, dim: int) -> np.ndarray:
    """The article vector: the first `dim` floats of the signature's blob."""
    return np.frombuffer(blob, dtype=np.float32)[: int(dim)]
