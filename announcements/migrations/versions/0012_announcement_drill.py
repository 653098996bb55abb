"""drills (announcement.drill: an exercise of an emergency, marked 演练 on every device)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 21:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        # the rows already there were real notices: false (0 on SQLite, false on PostgreSQL)
        batch_op.add_column(sa.Column('drill', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_column('drill')
