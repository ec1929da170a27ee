"""account links: candidate links between accounts (per loaded run) and reviewers' confirm / split decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('author_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('author_a', sa.String(length=200), nullable=False),
    sa.Column('author_b', sa.String(length=200), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('linked', sa.Boolean(), nullable=False),
    sa.Column('prior_decision', sa.String(length=10), nullable=True),
    sa.Column('a_type', sa.String(length=40), nullable=True),
    sa.Column('a_specialty', sa.String(length=200), nullable=True),
    sa.Column('a_platforms', sa.JSON(), nullable=False),
    sa.Column('a_posts', sa.Integer(), nullable=True),
    sa.Column('b_type', sa.String(length=40), nullable=True),
    sa.Column('b_specialty', sa.String(length=200), nullable=True),
    sa.Column('b_platforms', sa.JSON(), nullable=False),
    sa.Column('b_posts', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'author_a', 'author_b', name='uq_author_links_run_pair')
    )
    with op.batch_alter_table('author_links', schema=None) as batch_op:
        batch_op.create_index('ix_author_links_pair', ['author_a', 'author_b'], unique=False)

    op.create_table('link_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author_a', sa.String(length=200), nullable=False),
    sa.Column('author_b', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('author_a', 'author_b', name='uq_link_decisions_pair')
    )


def downgrade() -> None:
    op.drop_table('link_decisions')
    with op.batch_alter_table('author_links', schema=None) as batch_op:
        batch_op.drop_index('ix_author_links_pair')

    op.drop_table('author_links')
