"""A small Travian-style strategy game server: villages, troops, alliances, trade.

The game itself is plain Python (`Game`), so a whole season can be simulated without
HTTP; `create_app` puts it behind a FastAPI app, and `python -m ops.games.strategy`
serves it with uvicorn. The rules, with every number a connector needs, are in `rules`
and served at `GET /api/rules`, so a client reads them from the code that applies them.
"""

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.game import Game

__all__ = ["Code", "Game", "Refused"]
