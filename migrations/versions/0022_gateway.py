"""the gateway: route rules, usage counts, and rate limits and quotas on API keys and clients

Revision ID: 7e2a9c4b1d58
Revises: 4c1d7e9b2a35
Create Date: 2026-12-02 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import authserver.models.types


# revision identifiers, used by Alembic.
revision = '7e2a9c4b1d58'
down_revision = '4c1d7e9b2a35'
branch_labels = None
depends_on = None

_LIMIT_COLUMNS = (
    ('rate_limit', sa.String(length=200)),
    ('quota_limit', sa.BigInteger()),
    ('quota_period', sa.String(length=8)),
    ('quota_remaining', sa.BigInteger()),
    ('quota_resets_at', authserver.models.types.UTCDateTime(timezone=True)),
)


def upgrade():
    op.create_table('gateway_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('methods', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('scope_match', sa.String(length=8), nullable=False),
    sa.Column('credentials', sa.JSON(), nullable=False),
    sa.Column('audience', sa.String(length=2000), nullable=True),
    sa.Column('forward_token', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('rule_id')
    )
    with op.batch_alter_table('gateway_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_rules_position'), ['position'], unique=False)
    op.create_table('gateway_usage',
    sa.Column('granularity', sa.String(length=8), nullable=False),
    sa.Column('period_start', authserver.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('principal', sa.String(length=300), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('granularity', 'period_start', 'principal', 'outcome')
    )
    for table in ('api_keys', 'clients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_ in _LIMIT_COLUMNS:
                batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade():
    for table in ('clients', 'api_keys'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in reversed(_LIMIT_COLUMNS):
                batch_op.drop_column(name)
    op.drop_table('gateway_usage')
    with op.batch_alter_table('gateway_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_rules_position'))
    op.drop_table('gateway_rules')
