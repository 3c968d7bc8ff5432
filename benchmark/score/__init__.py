"""Scoring: turning stored per-episode results into scores, intervals and verdicts.

Reads the raw episodes that ``benchmark.evaluate`` produced and ``benchmark.store``
keeps, and scores them (nothing scored is stored: any score can be recomputed).
Modules:

* ``scoring``: normalised objectives, alignment, capability, revealed goal, outcome;
* ``stats``: aggregates (IQM, probability of improvement) with stratified bootstrap intervals;
* ``results``: the scores of the stored runs on the current environments, ranked;
* ``validity``: the validity card: is a family a test of goal misgeneralisation?
* ``compare``: two stored agents side by side: probability of improvement, paired differences;
* ``sweep``: generalisation curves along a family's ``shift`` knob;
* ``mitigation``: the disambiguation curve and α* of a mitigation method.
"""
