"""The durable archive: PostgreSQL (SQLite when embedded) behind a Redis stream.

Nothing on the decision path imports this package: producers append to the stream
(`npcfarm.archive`) and the archiver process writes batches here.
"""
