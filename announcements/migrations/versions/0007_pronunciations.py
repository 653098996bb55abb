"""pronunciations (pronunciation: a word eSpeak NG says wrong and what to say instead, for the whole deployment)

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-12 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

import announcements.timeutil  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('pronunciation',
    sa.Column('word', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('say', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('updated_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('word')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('pronunciation')
