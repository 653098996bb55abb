"""timed broadcasts (schedule, announcement.schedule_id) and per-area kiosk dwell (area.kiosk_dwell_s)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

import announcements.timeutil  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('schedule',
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('speak', sa.Boolean(), nullable=False),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('lifetime_minutes', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('area', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('rrule', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('dates', sa.JSON(), nullable=False),
    sa.Column('starts_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.Column('until', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('next_at', announcements.timeutil.UTCDateTime(), nullable=True),
    sa.Column('last_at', announcements.timeutil.UTCDateTime(), nullable=True),
    sa.Column('created_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_area'), ['area'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_next_at'), ['next_at'], unique=False)
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kiosk_dwell_s', sa.Integer(), nullable=True))
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_column('schedule_id')
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.drop_column('kiosk_dwell_s')
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_next_at'))
        batch_op.drop_index(batch_op.f('ix_schedule_area'))
    op.drop_table('schedule')
