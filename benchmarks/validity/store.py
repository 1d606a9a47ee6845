"""Cached result rows: one fragment per (design, method, replication), one CSV per design.

The committed CSV ``benchmarks/results/validity/<design>.csv`` holds every finished row of a
design. While a run is under way each finished (method, replication) is written at once to a
fragment under ``.cache/<design>/`` (not committed), so an interrupted run loses nothing;
``consolidate()`` merges the fragments into the CSV (a fragment replaces the CSV's rows of the
same key), under a file lock and removing only the fragments it merged, so runs of different
methods of one design may go on side by side. A row is reused only for the same seed, m and
maxit, so a reduced run never passes for a full one. Every row records the commit it was
computed on: ``done(..., current=...)`` counts a row only when its commit passes the test, so
rows older than a change to a method (``--since``) are recomputed while the others, R's
included, are kept; ``--refresh`` recomputes chosen methods whatever is cached.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

__all__ = ["RowStore", "KEY"]

#: what identifies one task's rows
KEY = ["method", "rep", "seed", "m", "maxit"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


class RowStore:
    """The rows of one design under ``folder``."""

    def __init__(self, folder: Path, design: str):
        self.csv = folder / f"{design}.csv"
        self.fragments = folder / ".cache" / design

    def rows(self) -> pd.DataFrame:
        """Committed rows updated by the fragments."""
        return self._merge(sorted(self.fragments.glob("*.csv")))

    def _merge(self, fragments: list[Path]) -> pd.DataFrame:
        frames = [self._read(self.csv)] if self.csv.exists() else []
        frames += [self._read(path) for path in fragments]
        if not frames:
            return pd.DataFrame()
        rows = pd.concat(frames, ignore_index=True)
        # A fragment (newer) replaces the committed rows of the same key.
        latest = rows.groupby(KEY)["_source"].transform("max")
        return rows[rows["_source"] == latest].drop(columns="_source").reset_index(drop=True)

    def _read(self, path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path, keep_default_na=False, na_values=["NA", "nan", ""])
        frame["note"] = frame["note"].fillna("") if "note" in frame else ""
        source = 0 if path == self.csv else path.stat().st_mtime_ns
        return frame.assign(_source=source)

    def done(self, seed: int, m: int, maxit: int,
             current: Callable[[str], bool] | None = None) -> set[tuple[str, int]]:
        """(method, rep) already computed with these settings (and, given ``current``, on a
        commit for which ``current(commit)`` is true)."""
        rows = self.rows()
        if rows.empty:
            return set()
        same = rows[(rows["seed"] == seed) & (rows["m"] == m) & (rows["maxit"] == maxit)]
        if current is not None:
            verdicts = {c: current(str(c)) for c in same["commit"].unique()}
            same = same[same["commit"].map(verdicts).astype(bool)]
        return set(zip(same["method"], same["rep"].astype(int)))

    def add(self, rows: pd.DataFrame) -> None:
        """Write one task's rows as a fragment (atomically)."""
        self.fragments.mkdir(parents=True, exist_ok=True)
        first = rows.iloc[0]
        name = f"{_slug(first['method'])}__rep{int(first['rep']):04d}__s{int(first['seed'])}" \
               f"_m{int(first['m'])}_it{int(first['maxit'])}.csv"
        tmp = self.fragments / (name + ".tmp")
        rows.to_csv(tmp, index=False)
        tmp.replace(self.fragments / name)

    @contextmanager
    def _locked(self):
        self.fragments.mkdir(parents=True, exist_ok=True)
        with open(self.fragments.parent / f"{self.fragments.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def consolidate(self) -> pd.DataFrame:
        """Merge the fragments into the design's CSV and remove the merged ones."""
        with self._locked():
            fragments = sorted(self.fragments.glob("*.csv"))
            rows = self._merge(fragments)
            if rows.empty:
                return rows
            rows = rows.sort_values(["method", "seed", "m", "maxit", "rep"], kind="stable")
            self.csv.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.csv.with_suffix(".csv.tmp")
            rows.to_csv(tmp, index=False)
            tmp.replace(self.csv)
            for path in fragments:
                path.unlink()
        return self.rows()
