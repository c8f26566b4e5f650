"""Hand-written revisions; Alembic skips this file."""
