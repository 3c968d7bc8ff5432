"""``python -m benchmark`` is the ``mesabench`` command."""

from benchmark.cli import main

main()
