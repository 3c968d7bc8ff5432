"""Reports: what the scores say, drawn as tables, figures, replays and CI verdicts.

Reads scores (``benchmark.score``) of the stored runs (``benchmark.store``) and
shows them; ``check`` and ``replay`` evaluate again (``benchmark.evaluate``).
Modules:

* ``leaderboard``: the console leaderboard, one agent in detail, and their JSON forms;
* ``plots``: figures: the generalisation curve, the misgeneralisation map, the disambiguation curve;
* ``replay``: one episode of an agent recorded as an animated GIF;
* ``validity_view``: the validity card as a console table;
* ``check``: the CI report: re-evaluate a stored agent with the current code, compare, decide;
* ``perf``: the speed report: the speed and memory figures quoted in the README.
"""
