"""Shared kernel of npcfarm: settings, domain types, errors and Redis key names.

Every other package (workers, tasks, schedules, models, ops) may import from here;
nothing here imports from them, which keeps the import graph one-way.
"""

__version__ = "0.1.0"
