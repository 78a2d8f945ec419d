"""revocation news: the generation counter every revocation bumps on PostgreSQL without Redis

Revision ID: 5f3b8d2e6a91
Revises: 7e2a9c4b1d58
Create Date: 2026-12-09 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5f3b8d2e6a91'
down_revision = '7e2a9c4b1d58'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('revocation_news',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_revocation_news_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revocation_news'))
    )
    # Its one row, there before any revocation (authserver.platform.pg_news bumps it).
    op.execute("INSERT INTO revocation_news (id, generation) VALUES (1, 0)")


def downgrade():
    op.drop_table('revocation_news')
