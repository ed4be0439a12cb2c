"""What differs between the databases: how a list of tokens is matched and scored.

Both backends read the same rows; SQLite matches them through its FTS5 tables, PostgreSQL
through the generated ``tsv`` columns and their GIN indexes. Scores are "higher is better" on
both, but are not comparable between the two databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, column, func, literal_column, table

from training.errors import ConfigurationError
from training.search.models import FTS_TABLES, TSVECTOR_COLUMN, SearchDocument, SearchSegment

DOCUMENTS: Table = SearchDocument.__table__  # type: ignore[attr-defined]
SEGMENTS: Table = SearchSegment.__table__  # type: ignore[attr-defined]
_FTS = {DOCUMENTS.name: FTS_TABLES[0], SEGMENTS.name: FTS_TABLES[1]}


@dataclass(frozen=True)
class Match:
    """The rows to select from, the condition that keeps the matching ones, and the relevance
    of each. ``rowid`` (SQLite only) is the FTS5 row id, which equals the content table's key:
    a range condition on it lets FTS5 seek instead of reading a whole list of matches."""

    source: FromClause
    condition: ColumnElement[bool]
    score: ColumnElement[Any]
    rowid: ColumnElement[Any] | None


def match_for(dialect: str, content: Table, tokens: Sequence[str]) -> Match:
    """How rows of ``content`` (``search_document`` or ``search_segment``) containing every
    one of ``tokens`` are found on ``dialect``."""
    if dialect == "sqlite":
        return _fts5_match(content, tokens)
    if dialect == "postgresql":
        return _tsvector_match(content, tokens)
    raise ConfigurationError(
        "CLINICAST_DATABASE__URL", f"full-text search runs on SQLite or PostgreSQL, not {dialect}"
    )


def _fts5_match(content: Table, tokens: Sequence[str]) -> Match:
    name = _FTS[content.name]
    fts = table(name, column("rowid"))
    key = next(iter(content.primary_key.columns))
    # Every token quoted: FTS5 then reads it as a plain term (implicit AND between them), never
    # as an operator such as NOT or NEAR. Tokens hold only letters and digits, so no quote
    # inside needs escaping.
    expression = " ".join(f'"{token}"' for token in tokens)
    condition = literal_column(name).op("MATCH")(expression)
    # The hidden ``rank`` column is bm25() (lower is better, negative): flipped so that both
    # backends sort descending. Unlike a call to bm25() it may be read from inside a subquery
    # that SQLite flattens into the aggregate above it.
    score: ColumnElement[Any] = -literal_column(f"{name}.rank")
    return Match(fts.join(content, key == fts.c.rowid), condition, score, fts.c.rowid)


def _tsvector_match(content: Table, tokens: Sequence[str]) -> Match:
    vector: ColumnElement[Any] = literal_column(f"{content.name}.{TSVECTOR_COLUMN}")
    query = func.plainto_tsquery("simple", " ".join(tokens))
    # Normalisation 2 divides by the length of the text: how densely the words occur in it,
    # so a short title that matches outweighs a long transcript that says the word once.
    score = func.ts_rank_cd(vector, query, 2)
    return Match(content, vector.op("@@")(query), score, None)
