"""per-person keys for the personal fields of audit records; erased users; the audit chain's
head signed, and whether its old records were resealed

Revision ID: 4c1d7e9b2a35
Revises: 2b8e5d0a7c16
Create Date: 2026-12-02 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import authserver.models.types


# revision identifiers, used by Alembic.
revision = '4c1d7e9b2a35'
down_revision = '2b8e5d0a7c16'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('person_keys',
    sa.Column('subject', sa.String(length=43), nullable=False),
    sa.Column('kek_id', sa.String(length=32), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', authserver.models.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.add_column(sa.Column('format', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    # An empty trail has nothing to reseal; `init` reseals the records of an older one.
    op.execute("UPDATE audit_chain SET format = 2 WHERE length = 0")


def downgrade():
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('format')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    op.drop_table('person_keys')
