"""The search index: text already split into tokens, at two grains.

- ``search_document``: per lecture, one row for each of its title, keywords, description and
  whole transcript. Lectures are found and ranked here: a few rows per lecture, however often
  a common word is said in them.
- ``search_segment``: one row per transcript segment, keyed by the segment's id. Only read for
  the lectures on the page being shown, to find the moments to jump to.

The rows are the same on both databases; what indexes them is not, and lives outside this
metadata (see the 0002 migration):

- SQLite: FTS5 tables (``search_fts``, ``search_segment_fts``) with these tables as external
  content, kept in step by triggers, ranked with ``bm25()``.
- PostgreSQL: a generated ``tsv`` column (``to_tsvector('simple', tokens)``) on each table with
  a GIN index, ranked with ``ts_rank_cd``; and ``search_posting`` (migration 0005), one row per
  document and word kept by a trigger, from which documents are matched and ranked without
  reading a whole transcript's tsvector.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel, Text

from training.base import str_enum

SQLITE_FTS_TABLES = ("search_fts", "search_segment_fts")
"""The SQLite FTS5 tables; each one's shadow tables (``search_fts_data``…) start with its name."""
POSTINGS_TABLE = "search_posting"
"""PostgreSQL's postings of ``search_document`` (migration 0005)."""
FTS_TABLES = (*SQLITE_FTS_TABLES, POSTINGS_TABLE)
"""The full-text index's own tables, which each database builds its own way outside this
metadata (so Alembic's comparison leaves them alone, ``infra.models.include_name``): what starts
with one of these names."""
TSVECTOR_COLUMN = "tsv"
TSVECTOR_INDEXES = ("ix_search_document_tsv", "ix_search_segment_tsv")


class DocumentField(StrEnum):
    """Which text of a lecture a ``search_document`` row indexes."""

    TITLE = "title"
    KEYWORDS = "keywords"
    DESCRIPTION = "description"
    TRANSCRIPT = "transcript"  # every segment's tokens, in order


class SearchDocument(SQLModel, table=True):
    __tablename__ = "search_document"
    __table_args__ = (UniqueConstraint("lecture_id", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (lecture_id, field) constraint's index serves.
    lecture_id: int = Field(foreign_key="lecture.id", ondelete="CASCADE")
    field: DocumentField = Field(sa_type=str_enum(DocumentField))
    tokens: str = Field(sa_column=Column(Text, nullable=False))


class SearchSegment(SQLModel, table=True):
    """A transcript segment's tokens. Its key is the segment's id, and a transcript's segments
    are inserted together, so one lecture's rows are a run of ids that SQLite's FTS5 can seek
    to (a correction updates its row in place and keeps the id)."""

    __tablename__ = "search_segment"

    segment_id: int = Field(
        foreign_key="transcript_segment.id",
        primary_key=True,
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    lecture_id: int = Field(foreign_key="lecture.id", index=True, ondelete="CASCADE")
    start: float
    tokens: str = Field(sa_column=Column(Text, nullable=False))
