"""pipeline failures: transient retries on jobs, the failed step and its cause on media

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import training.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job') as batch:
        batch.add_column(sa.Column('transient_since', training.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('media_asset') as batch:
        batch.add_column(sa.Column('failed_step', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch.add_column(sa.Column('failure_cause', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('media_asset') as batch:
        batch.drop_column('failure_cause')
        batch.drop_column('failed_step')
    with op.batch_alter_table('job') as batch:
        batch.drop_column('transient_since')
