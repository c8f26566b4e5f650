"""The HTTP gateway: the bridge protocol for game servers that cannot speak Redis."""
