# Times lme4 on the reference models of reference_models.R with lme4's default controls (what a
# user gets): lmer (lme4, no lmerTest df) and glmer, repeated fits, seconds per fit. Run from the
# repository root; benchmarks/bench_analysis.py calls it and compares.
#   Rscript benchmarks/r/time_fits.R
suppressPackageStartupMessages({
  library(lme4)
})
out_dir <- file.path("tests", "reference")
write_sims <- FALSE
source(file.path("benchmarks", "r", "reference_models.R"))

# ------------------------------------------------------------------ timing
time_rows <- list()
for (spec in models) {
  d <- as_groups(datasets[[spec$data]], spec$formula)
  d <- d[complete.cases(d[, all.vars(spec$formula)]), ]
  fit_default <- function() {
    if (spec$family == "gaussian") lme4::lmer(spec$formula, data = d, REML = spec$reml)
    else glmer(spec$formula, data = d, family = spec$family)
  }
  once <- system.time(suppressMessages(suppressWarnings(fit_default())))[["elapsed"]]
  reps <- max(3, min(200, ceiling(2 / max(once, 1e-3))))
  total <- system.time(for (r in seq_len(reps)) suppressMessages(suppressWarnings(
    fit_default())))[["elapsed"]]
  time_rows[[spec$id]] <- data.frame(model = spec$id, reps = reps,
                                     seconds_per_fit = total / reps)
  cat(sprintf("%-20s %.4f s per fit (%d reps)\n", spec$id, total / reps, reps))
}
dir.create(file.path("benchmarks", "results"), showWarnings = FALSE)
write.csv(do.call(rbind, time_rows), file.path("benchmarks", "results", "lme4_timing.csv"),
          row.names = FALSE)
