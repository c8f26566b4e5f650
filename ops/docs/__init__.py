"""Pages other programs depend on, generated from the code that enforces them.

docs/BRIDGE.md and docs/OPERATIONS.md keep their prose by hand; every schema table,
limit and setting in them sits between `<!-- BEGIN generated:NAME -->` markers and is
rewritten by `npcfarm docs` from the pydantic models and named constants. A test fails
when a committed page differs from what the command writes, so the page cannot drift.
"""
