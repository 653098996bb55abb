"""recordings on notices (announcement.recording: the url of a stored recording, played instead of speech)

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-20 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        # the rows already there are spoken from their text: NULL
        batch_op.add_column(sa.Column('recording', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_column('recording')
