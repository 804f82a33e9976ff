"""SQLAlchemy 2 declarative tables of the arena store: variants, battles (LMArena columns + ours), turns, meta."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base; `Base.metadata` is what the Alembic migrations build."""


class Meta(Base):
    """Key/value settings owned by the store (the voter-cookie secret and the IP salt live here)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VariantRow(Base):
    """Every (variant id, name) ever seen; never deleted. A changed registry entry has a new id and a new row."""

    __tablename__ = "variants"

    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    provider: Mapped[str] = mapped_column(String(256))
    public: Mapped[bool]
    added: Mapped[str | None] = mapped_column(String(32))
    retired: Mapped[str | None] = mapped_column(String(32))
    first_seen: Mapped[float] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(16), default="registry")  # registry | admin | import
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the admin-API definition, to rebuild it

    __table_args__ = (UniqueConstraint("id", "name", name="uq_variants_id_name"),)


class BattleRow(Base):
    """One battle: the LMArena vote-release columns, then the arena's own bookkeeping."""

    __tablename__ = "battles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # --- LMArena schema (exported as is)
    model_a: Mapped[str] = mapped_column(String(128))
    model_b: Mapped[str] = mapped_column(String(128))
    winner: Mapped[str | None] = mapped_column(String(16))
    tstamp: Mapped[float | None] = mapped_column(Float)
    conversation_a: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    conversation_b: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    conv_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    category: Mapped[Any | None] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(32))
    voter: Mapped[str | None] = mapped_column(String(64), index=True)
    flags: Mapped[list[str]] = mapped_column(JSON)
    # --- ours
    variant_a: Mapped[str | None] = mapped_column(String(32))
    variant_b: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # streaming | ready | failed | voted
    created: Mapped[float] = mapped_column(Float)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    sampler: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="arena")  # arena | import
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # imported columns outside the schema

    __table_args__ = (Index("ix_battles_status", "status"), Index("ix_battles_created", "created"))


class TurnRow(Base):
    """One answer of one side in one turn of a battle, with its timing."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(1))
    prompt: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    total_s: Mapped[float | None] = mapped_column(Float)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)
