"""media shared by replicas (media_part: each media file's bytes in pieces, the media dir a cache of them)

Revision ID: 0010
Revises: 0009
Create Date: 2027-02-20 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # empty at first: on PostgreSQL each replica puts the media its disk holds when it starts (announcements/mediastore.py)
    op.create_table('media_part',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('modified_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'part')
    )
    if op.get_bind().dialect.name == 'postgresql':
        # MP3, Ogg, JPEG and FLAC are compressed already: stored out of line without trying to compress them again
        op.execute('ALTER TABLE media_part ALTER COLUMN data SET STORAGE EXTERNAL')


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('media_part')
