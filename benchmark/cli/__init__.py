"""The ``mesabench`` command line (also ``python -m benchmark``): one command per stage.

Commands parse options, call ``benchmark.evaluate``, ``benchmark.score``,
``benchmark.store`` and ``benchmark.report``, and print. Modules:

* ``app``: the Typer app, :func:`main`, and envs, submit, leaderboard, show, check, demo,
  perf and train;
* ``views``: sweep, plot curve, plot map, replay, compare, export and validity;
* ``mitigation``: train over a grid of disambiguating shares and draw the disambiguation curve;
* ``db``: bring a database's schema up to date, copy one database into another.

``mesabench = "benchmark.cli:main"`` (pyproject.toml) runs :func:`main`.
"""

from benchmark.cli.app import main

__all__ = ["main"]
