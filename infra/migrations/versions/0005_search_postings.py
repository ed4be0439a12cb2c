"""search postings: PostgreSQL ranks lectures from one row per (document, word)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000

PostgreSQL only: SQLite's FTS5 index already keeps, per word, the rows it occurs in and
bm25() reads its statistics from there; nothing changes on SQLite.

On PostgreSQL a search found the lectures with ``search_document.tsv @@ query`` and ranked them
with ``ts_rank_cd(tsv, query, 2)``. A whole transcript's tsvector is ~14 kB, stored out of line
(TOAST), and a common word is said in nearly every lecture: the planner, which does not count
TOAST reads, scanned every document and read every vector to test it, then read every matching
one again to rank it. ``search_posting`` is the inverted index that was missing: one row per
document and word (``lexeme``, as in the tsvector), with

- ``rank``: ``ts_rank_cd(tsv, word, 2)``, the document's score for a query of that one word,
  computed here once (with the same function, over the same vector) instead of at every search;
- ``lecture_id`` and ``field``, copied from the document, so that the audience filter and the
  field weights need no join back to it.

The index on ``lexeme`` includes those columns: a word's postings are read from a few adjacent
index pages. A trigger keeps the table in step with ``search_document`` (rows go with their
document through the cascading foreign key), as 0002's triggers keep the FTS5 tables in step on
SQLite; the documents already indexed are copied in below. Like the FTS5 tables it is outside
the SQLModel metadata (``training.search.models.FTS_TABLES`` keeps Alembic's comparison away).
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The postings of one search_document row (``{id}``, ``{lecture_id}``, ``{field}``, ``{tsv}``),
# read from ``{source}``. A word alone, quoted the way tsvector's text form quotes it, is also a
# valid tsquery of just that word: its rank is exactly what a one-word search computed before.
_POSTINGS = """
    INSERT INTO search_posting (document_id, lexeme, lecture_id, field, rank)
    SELECT {id}, entry.lexeme, {lecture_id}, {field},
           ts_rank_cd({tsv}, array_to_tsvector(ARRAY[entry.lexeme])::text::tsquery, 2)
    FROM {source} unnest({tsv}) AS entry
"""
_NEW_ROW = _POSTINGS.format(
    id="NEW.id", lecture_id="NEW.lecture_id", field="NEW.field", tsv="words", source=""
)

POSTGRESQL = [
    """CREATE TABLE search_posting (
        document_id integer NOT NULL
            CONSTRAINT fk_search_posting_document_id_search_document
            REFERENCES search_document (id) ON DELETE CASCADE,
        lexeme text NOT NULL,
        lecture_id integer NOT NULL,
        field varchar(19) NOT NULL,
        rank real NOT NULL,
        CONSTRAINT pk_search_posting PRIMARY KEY (document_id, lexeme)
    )""",
    # Everything a search reads, in the index: the postings of a word are read from a few
    # adjacent index pages (an index-only scan) instead of one heap page per document. A lexeme
    # is at most 2 kB, so an entry always fits.
    """CREATE INDEX ix_search_posting_lexeme ON search_posting (lexeme)
        INCLUDE (document_id, lecture_id, field, rank)""",
    # ``words``: the row's tsv, read (and detoasted) once rather than once per word.
    f"""CREATE FUNCTION search_posting_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        words tsvector := NEW.tsv;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM search_posting WHERE document_id = OLD.id;
        END IF;
        {_NEW_ROW.strip()};
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER search_document_postings
        AFTER INSERT OR UPDATE ON search_document
        FOR EACH ROW EXECUTE FUNCTION search_posting_sync()""",
    _POSTINGS.format(
        id="d.id", lecture_id="d.lecture_id", field="d.field", tsv="d.tsv",
        source="search_document AS d,",
    ),
    "ANALYZE search_posting",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS search_document_postings ON search_document")
        op.execute("DROP FUNCTION IF EXISTS search_posting_sync()")
        op.execute("DROP TABLE IF EXISTS search_posting")
