"""Command line: ``python -m benchmarks.validity DESIGN [DESIGN ...] | all [options]``.

Examples::

    python -m benchmarks.validity list                       # designs and their methods
    nice -n 10 python -m benchmarks.validity all --jobs 2    # every design at its full size
    python -m benchmarks.validity ri_mar --reps 20 --m 3 --maxit 5 --out /tmp/validity
    python -m benchmarks.validity random_slope --peers bayesimpute reference --refresh bayesimpute
    python -m benchmarks.validity all --peers bayesimpute reference --since 0e02842 --jobs 2
    python -m benchmarks.validity report --readme            # tables, figures, README section

Rows are cached per (design, method, replication, seed, m, maxit) in the design's CSV, so a
rerun computes only what is missing; ``--refresh`` recomputes the named methods (labels, or
the peers ``bayesimpute``, ``R``, ``reference``, or ``all``); ``--since REV`` recomputes the
chosen methods' rows that were computed on a commit not containing REV (after a method change
merged at REV: resumable, and the R rows stay). R peers are skipped with a message where R or
one of its packages is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One BLAS thread per worker: the jobs are the parallelism (set before numpy loads).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from benchmarks.validity.designs import DESIGNS, get_design  # noqa: E402
from benchmarks.validity.methods import Settings  # noqa: E402
from benchmarks.validity.report import (  # noqa: E402
    select_run,
    write_design_report,
    write_summary,
)
from benchmarks.validity.runner import REPO, RESULTS, run_design  # noqa: E402
from benchmarks.validity.scoring import score  # noqa: E402
from benchmarks.validity.store import RowStore  # noqa: E402

DEFAULT_SEED = 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.designs == ["list"]:
        _list()
        return 0
    if args.designs == ["report"]:
        report(args.out, args.seed, readme=args.readme)
        return 0
    names = list(DESIGNS) if args.designs == ["all"] else args.designs
    designs = [get_design(name) for name in names]
    for design in designs:
        start = time.perf_counter()
        reps = args.reps or design.replications
        settings = Settings(m=args.m or design.m, maxit=args.maxit or design.maxit,
                            seed=args.seed)
        methods = [m.label for m in design.methods
                   if (args.methods is None or m.label in args.methods)
                   and (args.peers is None or m.peer in args.peers)]
        rows = run_design(design, reps, settings, jobs=args.jobs, methods=methods,
                          refresh=set(args.refresh or []), since=args.since,
                          folder=args.out)
        run = select_run(rows, design, reps, settings.seed, settings.m, settings.maxit)
        if not run.empty:
            path, _ = write_design_report(design, run, args.out)
            print(f"{design.name}: {time.perf_counter() - start:,.0f} s wall; report {path}",
                  flush=True)
    report(args.out, args.seed, readme=args.readme)
    return 0


def report(folder: Path, seed: int, readme: bool = False) -> None:
    """Rebuild every design's report and the summary from the CSVs (full-run settings)."""
    entries = []
    for design in DESIGNS.values():
        rows = RowStore(folder, design.name).rows()
        run = select_run(rows, design, None, seed)
        if run.empty:
            continue
        write_design_report(design, run, folder)
        entries.append((design, run, score(run)))
    if entries:
        path = write_summary(entries, folder, REPO / "README.md" if readme else None)
        print(f"summary: {path}" + (" and README.md" if readme else ""))


def _list() -> None:
    for design in DESIGNS.values():
        print(f"{design.name}: {design.title} ({design.replications} replications, "
              f"m = {design.m}, maxit = {design.maxit})")
        for method in design.methods:
            flag = "" if method.compatible else "  [not compatible]"
            print(f"    {method.peer:<12} {method.label}{flag}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validity",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("designs", nargs="+",
                        help=f"design names ({', '.join(DESIGNS)}), 'all', 'list' or 'report'")
    parser.add_argument("--reps", type=int, help="replications (default: the design's size)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--m", type=int, help="imputations (default: the design's, 5)")
    parser.add_argument("--maxit", type=int, help="iterations (default: the design's, 10)")
    parser.add_argument("--methods", nargs="+", metavar="LABEL", help="only these methods")
    parser.add_argument("--peers", nargs="+", choices=["bayesimpute", "R", "reference"],
                        help="only these kinds of methods")
    parser.add_argument("--refresh", nargs="+", metavar="LABEL",
                        help="recompute these methods (labels, peers or 'all') even if cached")
    parser.add_argument("--since", metavar="REV",
                        help="recompute the chosen methods' rows computed on a commit that "
                             "does not contain REV (e.g. the merge of a method change)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--readme", action="store_true",
                        help="also write the summary into README.md's validity section")
    return parser


if __name__ == "__main__":
    sys.exit(main())
