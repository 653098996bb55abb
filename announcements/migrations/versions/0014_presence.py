"""presence shared by the replicas (screen.connected_to: the replica a screen is connected to; replica: each
server process and its heartbeat)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 22:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

import announcements.timeutil  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('replica',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('alive_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('screen', schema=None) as batch_op:
        # no screen is connected to a replica yet: null, until it next says hello
        batch_op.add_column(sa.Column('connected_to', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('screen', schema=None) as batch_op:
        batch_op.drop_column('connected_to')
    op.drop_table('replica')
