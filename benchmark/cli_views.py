"""``mesabench`` commands that draw, compare and export (registered on ``benchmark.cli.app``)."""
