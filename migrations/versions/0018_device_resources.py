"""the resources (RFC 8707) a device authorization is for

Revision ID: 7d2f4b9e1c05
Revises: 5c1e0a7d2b93
Create Date: 2026-12-02 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d2f4b9e1c05'
down_revision = '5c1e0a7d2b93'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('device_authorizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resources', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('device_authorizations', schema=None) as batch_op:
        batch_op.drop_column('resources')
