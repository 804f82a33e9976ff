"""Storage: SQLAlchemy tables and Alembic migrations (SQLite default, PostgreSQL)."""
