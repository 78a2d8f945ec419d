"""tokens a user or client was issued before a disable or a password change stay dead

Revision ID: 9a3c6e1f4d27
Revises: 7d2f4b9e1c05
Create Date: 2026-12-02 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import authserver.models.types


# revision identifiers, used by Alembic.
revision = '9a3c6e1f4d27'
down_revision = '7d2f4b9e1c05'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('users', 'clients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('tokens_valid_after', authserver.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    for table in ('users', 'clients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('tokens_valid_after')
