"""Command line: ``bayesimpute run MODEL.toml [--out DIR] [--n-jobs N | --scheduler ADDRESS]``.

Runs a model file end to end: imputes, prints convergence and the pooled analysis,
and writes the InferenceData (``imputation.nc``), a trace plot (``trace.png``) and the
pooled tables (``pooled.csv``, ``variance_components.csv``) to the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

__all__ = ["main", "run_model"]


def run_model(path: str | Path, out: str | Path, *, m: int | None = None,
              maxit: int | None = None, quiet: bool = False, n_jobs: int | None = None,
              client=None) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import bayesimpute as bi
    from bayesimpute.model_file import load_model_file
    from bayesimpute.plots.trace import trace_dataset

    model = load_model_file(path)
    kwargs = model.impute_kwargs()
    if m is not None:
        kwargs["m"] = m
    if maxit is not None:
        kwargs["maxit"] = maxit
    if n_jobs is not None:
        kwargs["n_jobs"] = n_jobs
    if client is not None:  # the cluster's workers run the chains
        kwargs.pop("n_jobs", None)
        kwargs["client"] = client
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if quiet else print
    say(f"imputing {model.path.name}: {len(model.data)} rows, cluster {model.cluster!r}")
    start = time.perf_counter()
    imp = bi.impute(model.data, **kwargs)
    say(f"{imp!r}\nimpute() took {time.perf_counter() - start:.2f} s\n")
    say("convergence (R-hat of chain means and variances):")
    say(bi.convergence(imp).round(3).to_string(), "\n")
    written = {"idata": imp.to_netcdf(out / "imputation.nc")}
    rows = len(trace_dataset(imp).data_vars)  # every quantity in one figure, no pages
    figure = imp.plot_trace(rows_per_page=max(rows, 1))
    figure.savefig(out / "trace.png", dpi=100)
    written["trace"] = str(out / "trace.png")
    if model.analysis.get("formula"):
        fits = imp.analyze(model.analysis["formula"], client=client,
                           family=model.analysis.get("family", "gaussian"))
        pooled = bi.pool(fits)
        summary = pooled.summary()
        say(f"pooled analysis: {model.analysis['formula']}")
        say(summary[["estimate", "std_error", "df", "p_value", "riv", "fmi"]].round(4).to_string(), "\n")
        components = pooled.variance_components()
        say("pooled variance components:")
        say(components.round(4).to_string())
        summary.to_csv(out / "pooled.csv")
        components.to_csv(out / "variance_components.csv")
        written.update(pooled=str(out / "pooled.csv"),
                       variance_components=str(out / "variance_components.csv"))
    say(f"\nwrote: {', '.join(written.values())}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesimpute", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="impute and analyse as a model file says")
    run.add_argument("model", help="model file (TOML), e.g. models/popmis.toml")
    run.add_argument("--out", default="bayesimpute-output", help="output folder")
    run.add_argument("--m", type=int, default=None, help="override the number of imputations")
    run.add_argument("--maxit", type=int, default=None, help="override the number of iterations")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--n-jobs", type=int, default=None, metavar="N",
                       help="run the chains in N local processes (-1: all cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the chains and the analyses on the Dask scheduler at ADDRESS, "
                            "e.g. tcp://10.0.0.5:8786 (needs pip install 'bayesimpute[dask]')")
    args = parser.parse_args(argv)
    try:
        with _client(args.scheduler) as client:
            run_model(args.model, args.out, m=args.m, maxit=args.maxit, n_jobs=args.n_jobs,
                      client=client)
    except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as error:
        print(f"bayesimpute: error: {error}", file=sys.stderr)
        return 2
    return 0


@contextlib.contextmanager
def _client(address: str | None):
    """A Dask client of the scheduler at ``address`` for the run, or None."""
    if address is None:
        yield None
        return
    from bayesimpute.engine.dask_backend import connect  # Dask only when asked for

    with connect(address) as client:
        yield client


if __name__ == "__main__":
    sys.exit(main())
