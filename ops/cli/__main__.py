"""`python -m ops.cli`: the `npcfarm` command without the console script."""

from ops.cli.main import main

if __name__ == "__main__":
    main()
