"""Notebooks run under pytest (``pytest --nbmake notebooks``) at reduced settings.

Each notebook reads ``BAYESIMPUTE_FAST``; "1" means m = 2 and 3 iterations. The kernels that
nbmake starts inherit this process's environment, so setting it here is enough. Run with
``BAYESIMPUTE_FAST=0`` to execute them at full settings (and their checks) under pytest.
"""

import os

os.environ.setdefault("BAYESIMPUTE_FAST", "1")
