"""recordings on timed broadcasts (schedule.recording: played by every occurrence instead of its text)

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-10 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        # the schedules already there speak their text: NULL
        batch_op.add_column(sa.Column('recording', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_column('recording')
