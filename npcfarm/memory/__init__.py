"""NPC memory: hot turns and cards, the 30-day nearline window, retrieval for prompts.

Everything here lives in Redis and is bounded per NPC; the archive keeps the history
(see npcfarm/archive.py), and `npcfarm memory restore` rebuilds Redis from it.
"""
