"""Evaluation: running agents on the environments (``envs``) over fixed seeds.

Resolves an agent reference to loadable code, plays it in an agent process of its
own, and produces per-episode results, which ``benchmark.store`` keeps and
``benchmark.score`` scores. Modules:

* ``agents``: resolving an agent reference (module, file, saved policy) into loadable code;
* ``runner``: targets (splits and shift points) and evaluating one agent on one, batched;
* ``episodes``: the per-episode results an evaluation produces;
* ``sandbox``: the bounded agent process a submitted agent runs in (bubblewrap when available);
* ``agent_process``: the program that process runs (``python -m benchmark.evaluate.agent_process``);
* ``executors``: where evaluations run: inline, a local process pool, or a Ray cluster;
* ``submission``: jobs: evaluate an agent and any missing references, store every run.

Nothing is imported here: the agent process starts through this package and stays small.
"""
