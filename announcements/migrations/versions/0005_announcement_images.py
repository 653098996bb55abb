"""pictures on notices (announcement.images: [{url, width, height}])

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        # the rows already there have no pictures: '[]' fills them on SQLite and PostgreSQL alike
        batch_op.add_column(sa.Column('images', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_column('images')
