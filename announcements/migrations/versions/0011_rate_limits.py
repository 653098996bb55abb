"""rate limits shared by the replicas (rate_limit: a bucket per key, until it is full again)

Revision ID: 0011
Revises: 0010
Create Date: 2027-03-01 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Used on PostgreSQL only (SQLite is one process, whose limits stay in memory); made on both so that
    # the schema is the same whichever database a deployment starts on.
    op.create_table(
        'rate_limit',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('full_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # Written at every reply and sign-in: unlogged, a commit waits for no WAL flush (measured: half the time
        # of a logged upsert). After a crash of PostgreSQL the table is empty, every bucket full: acceptable.
        op.execute('ALTER TABLE rate_limit SET UNLOGGED')


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('rate_limit')
