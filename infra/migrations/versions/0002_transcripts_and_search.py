"""transcripts and search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000

Besides the ordinary tables, the full-text index itself, which differs by database and is not
part of the SQLModel metadata (``infra/migrations/env.py`` keeps autogenerate away from it):

- SQLite: the FTS5 tables ``search_fts`` and ``search_segment_fts`` with ``search_document`` and
  ``search_segment`` as their external content, and triggers that keep them in step. (A later
  batch migration that recreates either table must recreate its triggers too.)
- PostgreSQL: a generated column ``tsv`` on both tables, with a GIN index each.

The tokens are pre-split by ``training.search.tokenize`` (Chinese words, stemmed lower-case
Latin words, separated by spaces), so ``unicode61`` and the ``simple`` configuration only ever
have to split on spaces.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import training.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _sqlite_fts(fts: str, content: str, key: str) -> list[str]:
    """An FTS5 table over ``content.tokens`` (external content: the text is stored once, in
    ``content``) and the triggers that keep it in step."""
    old = f"INSERT INTO {fts}({fts}, rowid, tokens) VALUES ('delete', old.{key}, old.tokens);"
    new = f"INSERT INTO {fts}(rowid, tokens) VALUES (new.{key}, new.tokens);"
    return [
        f"""CREATE VIRTUAL TABLE {fts} USING fts5(
            tokens, content='{content}', content_rowid='{key}',
            tokenize='unicode61 remove_diacritics 0'
        )""",
        f"CREATE TRIGGER {content}_ai AFTER INSERT ON {content} BEGIN {new} END",
        f"CREATE TRIGGER {content}_ad AFTER DELETE ON {content} BEGIN {old} END",
        f"CREATE TRIGGER {content}_au AFTER UPDATE OF tokens ON {content} BEGIN {old} {new} END",
    ]


def _postgres_tsvector(content: str) -> list[str]:
    return [
        f"""ALTER TABLE {content} ADD COLUMN tsv tsvector
            GENERATED ALWAYS AS (to_tsvector('simple', tokens)) STORED""",
        f"CREATE INDEX ix_{content}_tsv ON {content} USING gin (tsv)",
    ]


SQLITE = _sqlite_fts("search_fts", "search_document", "id") + _sqlite_fts(
    "search_segment_fts", "search_segment", "segment_id"
)
POSTGRESQL = _postgres_tsvector("search_document") + _postgres_tsvector("search_segment")


def upgrade() -> None:
    op.create_table('transcript',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', training.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', training.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_transcript_lecture_id_lecture'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcript')),
    sa.UniqueConstraint('lecture_id', name=op.f('uq_transcript_lecture_id'))
    )
    op.create_table('transcript_segment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transcript_id', sa.Integer(), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('end', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('edited', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_transcript_segment_lecture_id_lecture'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transcript_id'], ['transcript.id'], name=op.f('fk_transcript_segment_transcript_id_transcript'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcript_segment')),
    sa.UniqueConstraint('transcript_id', 'position', name=op.f('uq_transcript_segment_transcript_id'))
    )
    with op.batch_alter_table('transcript_segment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transcript_segment_lecture_id'), ['lecture_id'], unique=False)

    op.create_table('search_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.Enum('title', 'keywords', 'description', 'transcript', name='documentfield', native_enum=False, length=19), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_search_document_lecture_id_lecture'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_document')),
    sa.UniqueConstraint('lecture_id', 'field', name=op.f('uq_search_document_lecture_id'))
    )
    op.create_table('search_segment',
    sa.Column('segment_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_search_segment_lecture_id_lecture'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segment_id'], ['transcript_segment.id'], name=op.f('fk_search_segment_segment_id_transcript_segment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segment_id', name=op.f('pk_search_segment'))
    )
    with op.batch_alter_table('search_segment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_segment_lecture_id'), ['lecture_id'], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for content in ("search_document", "search_segment"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {content}_{suffix}")
        op.execute("DROP TABLE IF EXISTS search_segment_fts")
        op.execute("DROP TABLE IF EXISTS search_fts")
    # PostgreSQL: the tsv columns and their indexes go with their tables.
    with op.batch_alter_table('search_segment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_segment_lecture_id'))

    op.drop_table('search_segment')
    op.drop_table('search_document')
    with op.batch_alter_table('transcript_segment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcript_segment_lecture_id'))

    op.drop_table('transcript_segment')
    op.drop_table('transcript')
