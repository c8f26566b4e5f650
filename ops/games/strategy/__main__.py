"""`python -m ops.games.strategy`: serve a new game with uvicorn.

Prints the operator token (given with `--token` or generated) on stdout, so whoever
starts the server can hand it to the connector.
"""

from __future__ import annotations

import argparse
import logging
import secrets

import uvicorn

from ops.games.strategy.app import BURST, RATE, create_app
from ops.games.strategy.game import DEFAULT_SPEED, Game


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.games.strategy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--speed", type=float, default=DEFAULT_SPEED, help="game seconds per real second"
    )
    parser.add_argument("--token", default=None, help="the operator token (generated if absent)")
    parser.add_argument("--rate", type=float, default=RATE, help="requests per second per token")
    parser.add_argument("--burst", type=float, default=BURST)
    parser.add_argument(
        "--manual", action="store_true", help="the clock moves only through POST /api/clock/advance"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = args.token or secrets.token_urlsafe(24)
    game = Game(players=args.players, seed=args.seed, speed=args.speed)
    app = create_app(game, token=token, rate=args.rate, burst=args.burst, realtime=not args.manual)
    print(f"operator token: {token}", flush=True)
    print(
        f"strategy game: {args.players} players on a {game.size}x{game.size} map, "
        f"http://{args.host}:{args.port}/api/world",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
