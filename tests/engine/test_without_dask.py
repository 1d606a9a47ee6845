"""Dask is an optional extra: without it nothing imports it, and asking for it says how to
install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import bayesimpute as bi

PACKAGE = Path(bi.__file__).resolve().parent

# Runs with dask and distributed made unimportable, as on an install without the extra.
SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["dask"] = None          # `import dask` now raises ImportError
    sys.modules["distributed"] = None
    import numpy as np, pandas as pd
    import bayesimpute as bi
    data = pd.DataFrame({"g": np.repeat(np.arange(6), 5), "x": np.arange(30.0)})
    data.loc[[1, 8, 20], "x"] = np.nan
    arguments = dict(cluster="g", method={"x": "2l.norm"}, m=2, maxit=2, seed=1)
    serial = bi.impute(data, **arguments)
    parallel = bi.impute(data, n_jobs=2, keep="last", **arguments)
    assert serial.complete("long").equals(parallel.complete("long"))
    serial.analyze("x ~ 1")
    for how in ({"backend": "dask"}, {"client": object()}):
        try:
            bi.impute(data, **how, **arguments)
        except ImportError as error:
            print("ERROR:", error)
    from bayesimpute.cli import main
    print("CLI:", main(["run", "models/popmis.toml", "--scheduler", "tcp://127.0.0.1:1"]))
""")


def test_without_the_extra_everything_else_works_and_dask_says_how_to_install():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         cwd=PACKAGE.parent, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    errors = [line for line in out.stdout.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 2
    assert all("pip install 'bayesimpute[dask]'" in line for line in errors)
    assert "CLI: 2" in out.stdout
    assert "pip install 'bayesimpute[dask]'" in out.stderr  # the CLI's message


def test_only_the_dask_backend_module_imports_dask():
    importers = []
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if len(words) >= 2 and words[0] in ("import", "from") and \
                    words[1].split(".")[0] in ("dask", "distributed"):
                importers.append(path.relative_to(PACKAGE).as_posix())
    assert sorted(set(importers)) == ["engine/dask_backend.py"]
