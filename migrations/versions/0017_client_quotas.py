"""optional per-client quotas for token and introspection requests (token buckets)

Revision ID: 5c1e0a7d2b93
Revises: 58671a1bab33
Create Date: 2026-12-01 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e0a7d2b93'
down_revision = '58671a1bab33'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_quota', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('introspection_quota', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('introspection_quota')
        batch_op.drop_column('token_quota')
