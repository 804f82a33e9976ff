"""Initial arena schema: meta, variants, battles, turns.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "variants",
        sa.Column("key", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(256), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("added", sa.String(32)),
        sa.Column("retired", sa.String(32)),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON()),
        sa.UniqueConstraint("id", "name", name="uq_variants_id_name"),
    )
    op.create_index("ix_variants_id", "variants", ["id"])
    op.create_index("ix_variants_name", "variants", ["name"])
    op.create_table(
        "battles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model_a", sa.String(128), nullable=False),
        sa.Column("model_b", sa.String(128), nullable=False),
        sa.Column("winner", sa.String(16)),
        sa.Column("tstamp", sa.Float()),
        sa.Column("conversation_a", sa.JSON(), nullable=False),
        sa.Column("conversation_b", sa.JSON(), nullable=False),
        sa.Column("conv_metadata", sa.JSON()),
        sa.Column("category", sa.JSON()),
        sa.Column("language", sa.String(32)),
        sa.Column("voter", sa.String(64)),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("variant_a", sa.String(32)),
        sa.Column("variant_b", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("ip_hash", sa.String(64)),
        sa.Column("sampler", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("extra", sa.JSON()),
    )
    op.create_index("ix_battles_voter", "battles", ["voter"])
    op.create_index("ix_battles_status", "battles", ["status"])
    op.create_index("ix_battles_created", "battles", ["created"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("battle_id", sa.String(64), sa.ForeignKey("battles.id"), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(1), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text()),
        sa.Column("ttft_s", sa.Float()),
        sa.Column("tokens_per_s", sa.Float()),
        sa.Column("total_s", sa.Float()),
        sa.Column("completion_tokens", sa.Integer()),
        sa.Column("finish_reason", sa.String(32)),
        sa.Column("error", sa.Text()),
        sa.Column("created", sa.Float(), nullable=False),
    )
    op.create_index("ix_turns_battle_id", "turns", ["battle_id"])


def downgrade() -> None:
    op.drop_table("turns")
    op.drop_table("battles")
    op.drop_table("variants")
    op.drop_table("meta")
