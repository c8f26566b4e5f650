"""The bridge side of the farm: what game servers send, and a game that sends it.

`ingest` applies the inbox (the one door for bridge events); `simulator` is a small game
server that speaks the protocol exactly as docs/BRIDGE.md describes; `demo` draws the
world it plays.
"""
