"""attendance: heartbeats and viewing sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:59:26.634267
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import training.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Indexes kept few on purpose: heartbeats are the portal's hottest write.
    op.create_table('attendance_heartbeat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.Enum('live', 'vod', name='viewingmode', native_enum=False, length=12), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('playing', sa.Boolean(), nullable=False),
    sa.Column('rendition', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('stalls', sa.Integer(), nullable=False),
    sa.Column('stalled_s', sa.Float(), nullable=False),
    sa.Column('head_count', sa.Integer(), nullable=False),
    sa.Column('sent_at', training.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', training.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_attendance_heartbeat_clinic_id_clinic')),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_attendance_heartbeat_lecture_id_lecture'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_attendance_heartbeat_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_heartbeat')),
    sa.UniqueConstraint('user_id', 'session_id', 'seq', name=op.f('uq_attendance_heartbeat_user_id'))
    )
    with op.batch_alter_table('attendance_heartbeat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_heartbeat_lecture_id'), ['lecture_id'], unique=False)

    op.create_table('attendance_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('lecture_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=True),
    sa.Column('live_intervals', sa.JSON(), nullable=False),
    sa.Column('vod_intervals', sa.JSON(), nullable=False),
    sa.Column('head_count', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Enum('live', 'vod', name='viewingmode', native_enum=False, length=12), nullable=False),
    sa.Column('rendition', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('stalls', sa.Integer(), nullable=False),
    sa.Column('stalled_s', sa.Float(), nullable=False),
    sa.Column('rendition_seconds', sa.JSON(), nullable=False),
    sa.Column('first_seen_at', training.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', training.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_attendance_session_clinic_id_clinic')),
    sa.ForeignKeyConstraint(['lecture_id'], ['lecture.id'], name=op.f('fk_attendance_session_lecture_id_lecture'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_attendance_session_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_session')),
    sa.UniqueConstraint('user_id', 'session_id', name=op.f('uq_attendance_session_user_id'))
    )
    with op.batch_alter_table('attendance_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_session_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendance_session_lecture_id'), ['lecture_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attendance_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_session_lecture_id'))
        batch_op.drop_index(batch_op.f('ix_attendance_session_clinic_id'))

    op.drop_table('attendance_session')
    with op.batch_alter_table('attendance_heartbeat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_heartbeat_lecture_id'))

    op.drop_table('attendance_heartbeat')
