"""What differs between the databases: how a list of tokens is matched and scored.

Both backends read the same rows; SQLite matches them through its FTS5 tables, PostgreSQL
through the generated ``tsv`` columns and their GIN indexes (segments) and through the postings
derived from ``search_document.tsv`` (documents, see ``scored_documents``). Scores are "higher
is better" on both, but are not comparable between the two databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Executable,
    FromClause,
    Select,
    Subquery,
    Table,
    Text,
    any_,
    cast,
    column,
    func,
    literal_column,
    table,
    union_all,
)
from sqlalchemy import select as sa_select

from training.errors import ConfigurationError
from training.search.models import (
    POSTINGS_TABLE,
    SQLITE_FTS_TABLES,
    TSVECTOR_COLUMN,
    SearchDocument,
    SearchSegment,
)

DOCUMENTS: Table = SearchDocument.__table__  # type: ignore[attr-defined]
SEGMENTS: Table = SearchSegment.__table__  # type: ignore[attr-defined]
_FTS = {DOCUMENTS.name: SQLITE_FTS_TABLES[0], SEGMENTS.name: SQLITE_FTS_TABLES[1]}
_POSTINGS = table(
    POSTINGS_TABLE,
    *(column(name) for name in ("document_id", "lexeme", "lecture_id", "field", "rank")),
)
# An alias, so that the subqueries bounding a lecture's ids never correlate with the outer
# query; built once (building an alias of a table with foreign keys costs a few hundred µs).
_SEGMENT_BOUNDS = SEGMENTS.alias("bounds")


@dataclass(frozen=True)
class Match:
    """The rows to select from and the condition that keeps the matching ones. ``rowid``
    (SQLite only) is the FTS5 row id, which equals the content table's key: a range condition
    on it lets FTS5 seek instead of reading a whole list of matches."""

    source: FromClause
    condition: ColumnElement[bool]
    rowid: ColumnElement[Any] | None


def matching_segments(
    dialect: str, tokens: Sequence[str], lecture_ids: Sequence[int]
) -> Executable:
    """(``lecture_id``, ``segment_id``, ``start``) of every segment of these lectures that
    contains all of ``tokens``."""
    if dialect == "sqlite":
        match = _fts5_match(SEGMENTS, tokens)
    elif dialect == "postgresql":
        match = _tsvector_match(SEGMENTS, tokens)
    else:
        raise _unsupported(dialect)
    columns = (SEGMENTS.c.lecture_id, SEGMENTS.c.segment_id, SEGMENTS.c.start)
    base = sa_select(*columns).select_from(match.source).where(match.condition)
    if match.rowid is None:
        return base.where(SEGMENTS.c.lecture_id.in_(lecture_ids))
    # One FTS5 scan per lecture, bounded to the run of its segments' ids: FTS5 seeks to it
    # instead of walking every match in the whole index.
    return union_all(*(_within_lecture(base, match.rowid, i) for i in lecture_ids))


def scored_documents(dialect: str, tokens: Sequence[str], lecture_ids: Select[Any]) -> Subquery:
    """One row (``lecture_id``, ``field``, ``score``) for every document that contains all of
    ``tokens`` and belongs to one of ``lecture_ids``. The audience is applied here, inside, so
    that no database scores a document the user may not see."""
    if dialect == "sqlite":
        match = _fts5_match(DOCUMENTS, tokens)
        # The hidden ``rank`` column is bm25() (lower is better, negative): flipped so that both
        # backends sort descending. Unlike a call to bm25() it may be read from inside a
        # subquery that SQLite flattens into the aggregate above it.
        score: ColumnElement[Any] = -literal_column(f"{_FTS[DOCUMENTS.name]}.rank")
        query = (
            sa_select(DOCUMENTS.c.lecture_id, DOCUMENTS.c.field, score.label("score"))
            .select_from(match.source)
            .where(match.condition, DOCUMENTS.c.lecture_id.in_(lecture_ids))
        )
        return query.subquery("scored")
    if dialect == "postgresql":
        return _posting_documents(tokens, lecture_ids)
    raise _unsupported(dialect)


def _unsupported(dialect: str) -> ConfigurationError:
    return ConfigurationError(
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
    return Match(fts.join(content, key == fts.c.rowid), condition, fts.c.rowid)


def _within_lecture(base: Select[Any], rowid: Any, lecture_id: int) -> Select[Any]:
    bounds = _SEGMENT_BOUNDS
    of_lecture = bounds.c.lecture_id == lecture_id
    lowest = sa_select(func.min(bounds.c.segment_id)).where(of_lecture).scalar_subquery()
    highest = sa_select(func.max(bounds.c.segment_id)).where(of_lecture).scalar_subquery()
    return base.where(SEGMENTS.c.lecture_id == lecture_id, rowid >= lowest, rowid <= highest)


def _tsvector_match(content: Table, tokens: Sequence[str]) -> Match:
    """Rows of ``content`` holding every token, tested row by row among the rows the rest of
    the query selects (the segments of a page of lectures: a few thousand at most).
    ``ts_match_vq`` is the function behind ``@@``, which the planner cannot match to the GIN
    index: given ``@@``, the generic plan of the prepared statement (psycopg prepares repeated
    statements) intersected the page's segments with the index entries of the word, hundreds
    of thousands for a common one, and took ten times longer. The query is a subquery so that
    it is parsed once (a generic plan cannot fold ``plainto_tsquery`` of parameters: it would
    run for every row)."""
    vector: ColumnElement[Any] = literal_column(f"{content.name}.{TSVECTOR_COLUMN}")
    query = sa_select(func.plainto_tsquery("simple", " ".join(tokens))).scalar_subquery()
    return Match(content, func.ts_match_vq(vector, query), None)


def _posting_documents(tokens: Sequence[str], lecture_ids: Select[Any]) -> Subquery:
    """The documents that hold every word, found from their postings (migration 0005): the
    index entries of the query's words, never a whole transcript's tsvector.

    A document matches when it has a posting for each of the query's words, which is what
    ``tsv @@ plainto_tsquery('simple', …)`` means for these AND-only queries (the words come
    from ``to_tsvector`` of the same text, so they are split and normalised alike). Its score
    is the sum of its postings' ranks: for each word, the cover density ``ts_rank_cd(tsv,
    word, 2)`` computed when the document was indexed (normalisation 2 divides by the length
    of the text, so a short title that matches outweighs a long transcript that says the word
    once). Additive, like SQLite's bm25(): neither backend weighs how close the words stand.
    ``ts_rank_cd`` of the whole query over the whole vector did, but it read every matching
    transcript's ~14 kB vector at every search: 60–100 ms for two common words over 2,000
    lecture-hours, against ~9 ms for the sum (bench/search.py).

    The query text is a parameter of the CTE only, so the plan is the same for every query:
    PostgreSQL's generic plan for the prepared statement (psycopg prepares repeated queries)
    cannot drift onto a scan that reads every document."""
    text = " ".join(tokens)
    query = sa_select(
        func.tsvector_to_array(func.to_tsvector("simple", text)).label("words"),
    ).cte("query")
    words = sa_select(query.c.words).scalar_subquery()
    posting = _POSTINGS.c
    count = func.count()
    score = func.sum(posting.rank)
    return (
        sa_select(posting.lecture_id, posting.field, score.label("score"))
        .where(
            posting.lexeme == any_(cast(words, ARRAY(Text))),
            posting.lecture_id.in_(lecture_ids),
        )
        .group_by(posting.document_id, posting.lecture_id, posting.field)
        .having(count == func.cardinality(words))
        .subquery("scored")
    )
