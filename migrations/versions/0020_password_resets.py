"""password-reset links sent by mail (their HMAC), single use

Revision ID: 2b8e5d0a7c16
Revises: 9a3c6e1f4d27
Create Date: 2026-12-02 07:50:00.000000

"""
from alembic import op
import sqlalchemy as sa
import authserver.models.types


# revision identifiers, used by Alembic.
revision = '2b8e5d0a7c16'
down_revision = '9a3c6e1f4d27'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', authserver.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_resets_user_id'))
    op.drop_table('password_resets')
