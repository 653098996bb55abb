"""announcement.cap: the CAP alert an announcement came from (PROTOCOL.md 1.1 `cap`)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 22:45:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cap', sa.JSON(), nullable=True))  # null: not from a CAP alert


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_column('cap')
