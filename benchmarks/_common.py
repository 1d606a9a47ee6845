"""Shared helpers of the benchmark scripts: timing, peak memory, R peers, result tables."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(function, repeats: int = 3) -> tuple[float, object]:
    """Fastest of ``repeats`` wall-clock timings (and the last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def r_available(*packages: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = "; ".join(f"library({p})" for p in packages)
    return subprocess.run(["Rscript", "-e", check], capture_output=True).returncode == 0


def run_r(script: str, timeout: int = 3600) -> float | None:
    """Run an R script that prints 'SECONDS <x>'; return x (None when R is missing)."""
    completed = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                               timeout=timeout)
    for line in completed.stdout.splitlines():
        if line.startswith("SECONDS"):
            return float(line.split()[1])
    raise RuntimeError(f"R failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")


def write_table(name: str, table: pd.DataFrame, notes: list[str]) -> Path:
    """Print the table and write it, with the machine and date, to results/<name>.md."""
    RESULTS.mkdir(exist_ok=True)
    text = markdown(table)
    header = (f"# {name}\n\n{date.today().isoformat()}, {platform.machine()}, "
              f"{platform.python_version()}, {_cores()} cores\n\n")
    body = header + text + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print(body)
    path = RESULTS / f"{name}.md"
    path.write_text(body)
    return path


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cells = [[("" if v is None or (isinstance(v, float) and v != v) else str(v)) for v in row]
             for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _cores() -> int:
    import os

    return os.cpu_count() or 0
