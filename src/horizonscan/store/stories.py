"""Stories: which articles tell the same story, and a story's optional synthesized view."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from horizonscan.store.base import Repository
from horizonscan.store.schema import StoryMemberRow, StoryRow


class StoryRepo(Repository):
    def story_members(self) -> dict[int, int]:
        with self.session() as s:
            return {
                int(a): int(b)
                for a, b in s.execute(select(StoryMemberRow.article_id, StoryMemberRow.story_id))
            }

    def set_story_members(self, members: dict[int, int], *, replace: bool = False) -> None:
        with self.session() as s:
            if replace:
                s.execute(delete(StoryMemberRow))
            for article_id, story_id in members.items():
                s.merge(StoryMemberRow(article_id=article_id, story_id=story_id))

    def story_row(self, story_id: int) -> StoryRow | None:
        with self.session() as s:
            return s.get(StoryRow, story_id)

    def story_rows(self, story_ids: Iterable[int]) -> dict[int, StoryRow]:
        """Synthesized views of many stories, by id (those that have one)."""
        wanted = list(story_ids)
        out: dict[int, StoryRow] = {}
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                rows = s.scalars(select(StoryRow).where(StoryRow.id.in_(wanted[i : i + 500])))
                out.update({r.id: r for r in rows})
        return out

    def save_story_row(self, row: StoryRow) -> None:
        with self.session() as s:
            s.merge(row)
