"""MesaBench: a benchmark of goal misgeneralisation.

The modules here are the public API, what agent authors and installed hooks import:

* ``protocol``: the agent protocol (``AgentContext``, ``BatchedAgent``, ``batch_size``);
* ``torch_policy``: saving and loading torch policy files (``save_policy``, ``flatten_batch``);
* ``gymnasium_plugin``: registers the families with Gymnasium (imported by a ``.pth`` file).

The rest is internal, one sub-package per stage, in the order data flows:
``evaluate`` (running agents on ``envs``), ``store`` (the results database),
``score`` (scores of the stored runs), ``report`` (tables, figures, checks) and
``cli`` (the ``mesabench`` command).
"""
