"""Run a design: every (replication, method) task not cached yet, in parallel, into the store.

Seeds: replication r of design D at seed S simulates its data from
``SeedSequence([S, crc32(D), r])``'s first child and imputes with an integer drawn from the
second, the same for every method (R's ``set.seed`` gets it too). So a rerun of any one task
gives the same data and the same seed, and methods are compared on identical data sets.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.validity.design import IMPUTED_MEAN, Design, Replication
from benchmarks.validity.designs import get_design
from benchmarks.validity.methods import Settings
from benchmarks.validity.store import RowStore

__all__ = ["RESULTS", "replication", "run_task", "run_design", "run_reduced", "git_commit",
           "contains", "Task"]

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "validity"


def replication(design: Design, seed: int, rep: int) -> tuple[Replication, int]:
    """Replication ``rep`` of ``design`` and its imputation seed."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(design.name.encode()), rep])
    data_seed, imputation_seed = sequence.spawn(2)
    data = design.simulate(np.random.default_rng(data_seed))
    return data, int(imputation_seed.generate_state(1)[0] % 2**31)


def git_commit() -> str:
    """Short commit of the working tree, with ``+dirty`` when bayesimpute/ has local edits."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "bayesimpute") else "")


def contains(revision: str):
    """A test ``commit -> bool``: whether a row's commit contains ``revision`` (is it or a
    descendant), i.e. was computed after the change ``revision`` made. A commit git does not
    know (``unknown``) fails the test; ``+dirty`` is read as the commit it was made on."""
    resolved = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
                              cwd=REPO, capture_output=True, text=True)
    if resolved.returncode != 0:
        raise ValueError(f"--since: git does not know the revision {revision!r}")
    target = resolved.stdout.strip()

    def test(commit: str) -> bool:
        base = commit.removesuffix("+dirty")
        return subprocess.run(["git", "merge-base", "--is-ancestor", target, base], cwd=REPO,
                              capture_output=True).returncode == 0

    return test


@dataclass(frozen=True)
class Task:
    """One method on one or more replications (R peers take several per R session)."""

    design: str
    method: str
    reps: tuple[int, ...]
    settings: Settings
    commit: str


def run_task(task: Task) -> list[pd.DataFrame]:
    """The rows of each (design, method, replication) of the task, with the truth attached.

    A method that raises gives one ``failed`` row per scored parameter, with the error as note:
    failures are counted in the tables, never dropped.
    """
    design = get_design(task.design)
    method = design.method(task.method)
    items = [replication(design, task.settings.seed, rep) for rep in task.reps]
    outcomes = method.run_batch(design, items, task.settings)
    frames = []
    for rep, (data, imputation_seed), rows in zip(task.reps, items, outcomes):
        if isinstance(rows, Exception):
            message = f"{type(rows).__name__}: {rows}".replace("\n", " ")[:400]
            rows = pd.DataFrame({"parameter": data.truth.index, "kind": data.kinds.to_numpy(),
                                 "status": "failed", "note": message, "task_seconds": np.nan})
        rows = _with_truth(rows, data, imputes=method.peer != "reference")
        frames.append(rows.assign(
            design=design.name, method=method.label, peer=method.peer,
            compatible=method.compatible, rep=rep, seed=task.settings.seed,
            m=task.settings.m, maxit=task.settings.maxit, imputation_seed=imputation_seed,
            commit=task.commit, task_seconds=rows["task_seconds"].astype(float).round(3),
        ))
    return frames


def _with_truth(rows: pd.DataFrame, data: Replication, imputes: bool = True) -> pd.DataFrame:
    """Attach the truth; a scored parameter the method did not report gets a failed row
    (except the imputed means of a reference analysis, which imputes nothing)."""
    reported = set(rows["parameter"])
    absent = [p for p in data.truth.index if p not in reported
              and (imputes or data.kinds[p] != IMPUTED_MEAN)]
    if absent:
        rows = pd.concat([rows, pd.DataFrame({
            "parameter": absent, "kind": data.kinds[absent].to_numpy(), "status": "failed",
            "note": "parameter not reported"})], ignore_index=True)
    return rows.assign(truth=rows["parameter"].map(data.truth))


def tasks_to_run(design: Design, reps: int, settings: Settings, commit: str,
                 store: RowStore, methods: list[str] | None = None,
                 refresh: set[str] | None = None,
                 since: str | None = None) -> tuple[list[Task], list[str]]:
    """Tasks not cached (or to refresh, or cached on a commit without ``since``),
    replication-major; and messages about skipped methods (an R peer where R is absent)."""
    chosen = [m for m in design.methods if methods is None or m.label in methods]
    if methods is not None:
        unknown = set(methods) - {m.label for m in design.methods}
        if unknown:
            raise KeyError(f"design {design.name!r} has no method(s) {sorted(unknown)}; it has "
                           f"{[m.label for m in design.methods]}")
    skipped, runnable = [], []
    for method in chosen:
        reason = method.available()
        if reason is None:
            runnable.append(method)
        else:
            skipped.append(f"{design.name}: skipping {method.label} ({reason})")
    done = store.done(settings.seed, settings.m, settings.maxit,
                      current=contains(since) if since else None)
    refresh = refresh or set()
    todo = {method.label: [rep for rep in range(min(reps, method.max_reps or reps))
                           if (method.label, rep) not in done or _refreshed(method, refresh)]
            for method in runnable}
    tasks = []
    for start in range(0, reps, max(m.batch for m in runnable) if runnable else 1):
        for method in runnable:  # replication-major: partial runs cover every method
            for first in range(start, start + max(m.batch for m in runnable), method.batch):
                chunk = [r for r in todo[method.label] if first <= r < first + method.batch]
                if chunk:
                    tasks.append(Task(design.name, method.label, tuple(chunk), settings, commit))
    return tasks, skipped


def _refreshed(method, refresh: set[str]) -> bool:
    return bool({"all", method.label, method.peer} & refresh)


def run_design(design: Design, reps: int, settings: Settings, *, jobs: int = 1,
               methods: list[str] | None = None, refresh: set[str] | None = None,
               since: str | None = None, folder: Path = RESULTS,
               verbose: bool = True) -> pd.DataFrame:
    """Run what is missing of ``reps`` replications and return all the design's rows
    (``since``: rows of the chosen methods computed on a commit that does not contain this
    revision count as missing)."""
    store = RowStore(folder, design.name)
    commit = git_commit()
    tasks, skipped = tasks_to_run(design, reps, settings, commit, store, methods, refresh,
                                  since)
    for message in skipped:
        print(message, flush=True)
    if verbose:
        print(f"{design.name}: {len(tasks)} tasks to run (m = {settings.m}, maxit = "
              f"{settings.maxit}, seed {settings.seed}, commit {commit})", flush=True)
    for frames in _execute(tasks, jobs):
        for rows in frames:
            store.add(rows)
            if verbose:
                first = rows.iloc[0]
                status = "ok" if (rows["status"] == "ok").all() else f"FAILED: {first['note']}"
                print(f"  {design.name} rep {first['rep']:>3} {first['method']:<28} "
                      f"{first['task_seconds']:7.1f} s  {status}", flush=True)
    return store.consolidate()


def _execute(tasks: list[Task], jobs: int):
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield run_task(task)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def run_reduced(design: Design, folder: Path, methods: list[str] | None = None,
                seed: int = 1) -> pd.DataFrame:
    """The reduced (CI) run of a design: its ``ci`` methods (or ``methods``) at
    ``design.reduced`` settings, rows written under ``folder``."""
    reduced = design.reduced
    chosen = methods or [m.label for m in design.methods if m.ci]
    settings = Settings(m=reduced.m, maxit=reduced.maxit, seed=seed)
    rows = run_design(design, reduced.reps, settings, methods=chosen, folder=folder,
                      verbose=False)
    return rows[rows["method"].isin(chosen)]
