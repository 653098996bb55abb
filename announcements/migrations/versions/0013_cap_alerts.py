"""CAP alerts in (cap_alert: every alert taken in, once per sender, identifier and sent; area.geocodes: the
administrative division codes an alert's <geocode> matches)

Revision ID: 0013
Revises: 0012
Create Date: 2027-03-20 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

import announcements.timeutil  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('cap_alert',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('identifier', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sent', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('msg_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('references', sa.JSON(), nullable=False),
    sa.Column('headline', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('named_areas', sa.JSON(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('announcement_ids', sa.JSON(), nullable=False),
    sa.Column('area', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
    sa.Column('received_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.Column('received_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sender', 'identifier', 'sent', name='uq_cap_alert_sender_identifier_sent')
    )
    with op.batch_alter_table('cap_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cap_alert_area'), ['area'], unique=False)
        batch_op.create_index(batch_op.f('ix_cap_alert_received_at'), ['received_at'], unique=False)
    with op.batch_alter_table('area', schema=None) as batch_op:
        # the areas already there have no codes: '[]' fills them on SQLite and PostgreSQL alike
        batch_op.add_column(sa.Column('geocodes', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.drop_column('geocodes')
    with op.batch_alter_table('cap_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cap_alert_received_at'))
        batch_op.drop_index(batch_op.f('ix_cap_alert_area'))
    op.drop_table('cap_alert')
