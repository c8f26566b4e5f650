"""Alembic revisions of the archive (a package so that installs carry them)."""
