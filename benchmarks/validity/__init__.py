"""A validity study anyone can rerun: known-truth simulations for every method family,
bayesimpute and R's peers side by side, and IMPACT over repeated amputations.

Layout
------
``design.py``      what a design is (data with known truth, analysis model, method list)
``designs/``       one module per design family: random intercept (many / few clusters),
                   random slope, categorical, count, cluster level, Heckman MNAR, logistic,
                   IMPACT amputations
``methods.py``     the method entries: ``PythonMethod`` (bayesimpute by name and options),
                   ``RMethod`` (a script of ``r/`` and its recipe), ``Reference`` (complete
                   data, complete cases)
``r/``             the R peers (mice, miceadds, jomo, jomo.lmer / jomo.glmer) and the shared
                   lme4 analysis and pooling (``common.R``)
``runner.py``      seeds, tasks, parallel execution
``store.py``       rows cached per (design, method, replication, seed, m, maxit)
``scoring.py``     bias, relative bias, RMSE, coverage with Monte-Carlo errors, targets,
                   gross errors (the reduced CI run), comparisons with R
``report.py``      per-design markdown and figure, the summary, README.md's section
``__main__.py``    ``python -m benchmarks.validity DESIGN|all|list|report [options]``

Adding a method to a design is adding one entry to its ``methods`` tuple, e.g.
``PythonMethod("bayesimpute 2l.smc", {"x": "2l.smc"}, options={...})``; adding a design is a
module in ``designs/`` with a ``DESIGNS`` tuple, listed in ``designs/__init__.py``.
"""
