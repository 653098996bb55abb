"""notice templates (notice_template: a notice kept by name, unique within its maker's area)

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-05 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types)
from alembic import op

import announcements.timeutil  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('notice_template',
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('speak', sa.Boolean(), nullable=False),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('area', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
    sa.Column('target', sa.JSON(), nullable=True),
    sa.Column('images', sa.JSON(), nullable=False),
    sa.Column('created_at', announcements.timeutil.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('area', 'name', name='uq_notice_template_area_name')
    )
    with op.batch_alter_table('notice_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_template_area'), ['area'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('notice_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_template_area'))
    op.drop_table('notice_template')
