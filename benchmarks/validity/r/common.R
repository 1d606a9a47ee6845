# Shared by the R peers of the validity study (benchmarks/validity): read a job, analyse the
# completed data sets with lme4 and pool them, write tidy rows back. R is a benchmark peer only.
#
# Every engine script defines impute_job(job) -> list(datasets, imputation = timed(...),
# packages) and ends with run_jobs(impute_job): one R session runs a batch of jobs (saves the
# start-up of R and its packages per replication); a job that fails writes its error to
# <out>.error instead of rows, and the others go on.
#
# A job is a JSON file written by benchmarks/validity/methods.py:
#   data, out            incomplete data (CSV) and where to write the pooled rows (CSV)
#   m, maxit, seed       imputation settings
#   formula, family      the analysis model (lme4 syntax; "gaussian" or "binomial")
#   factors              column -> levels (first = reference), as the Python side codes them
#   imputed_means        name -> {column, rows (1-based)}: mean imputed value over those rows
#   recipe               what the engine script does (methods, predictor matrix, ...)
#
# Pooling: every fixed effect by mice::pool.scalar (Rubin's rules, Barnard-Rubin df). The
# complete-data df is, as in bayesimpute's pool(), the mean over the m fits of the term's
# Satterthwaite df (lmerTest) for linear mixed models and n - p for logistic ones (mice's
# get.dfcom). Variance components: mean of the m estimates (mitml's extra.pars), no interval.
suppressMessages({
  library(jsonlite)
  library(mice)
  library(lme4)
  library(lmerTest)
})

run_jobs <- function(impute_job) {
  paths <- commandArgs(trailingOnly = TRUE)
  if (length(paths) == 0) stop("usage: Rscript <engine>.R job.json [job.json ...]")
  for (path in paths) {
    job <- fromJSON(path, simplifyVector = FALSE)
    start <- proc.time()[["elapsed"]]
    outcome <- tryCatch({
      result <- impute_job(job)
      finish(job, result$datasets, result$imputation, result$packages,
             proc.time()[["elapsed"]] - start)
      NULL
    }, error = function(e) conditionMessage(e))
    if (!is.null(outcome)) writeLines(outcome, paste0(job$out, ".error"))
  }
}

# The incomplete data with the job's factor columns as factors (levels in the Python order).
read_data <- function(job) {
  d <- read.csv(job$data, check.names = FALSE, na.strings = "NA", stringsAsFactors = FALSE)
  for (column in names(job$factors)) {
    d[[column]] <- factor(d[[column]], levels = unlist(job$factors[[column]]))
  }
  d
}

# Factor columns as integer codes 1..K (the tutorial's "as.numeric" coding for 2l.pmm).
as_integer_codes <- function(d, columns) {
  for (column in columns) d[[column]] <- as.integer(d[[column]])
  d
}

# Integer codes (rounded, clamped to 1..K) back to the job's factors.
from_integer_codes <- function(d, job) {
  for (column in names(job$factors)) {
    levels <- unlist(job$factors[[column]])
    if (is.numeric(d[[column]])) {
      codes <- pmin(pmax(round(d[[column]]), 1), length(levels))
      d[[column]] <- factor(levels[codes], levels = levels)
    }
  }
  d
}

# Evaluate expr, timing it and counting its warnings (reported, never hidden).
timed <- function(expr) {
  messages <- character(0)
  start <- proc.time()[["elapsed"]]
  value <- withCallingHandlers(expr, warning = function(w) {
    messages <<- c(messages, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = value, seconds = proc.time()[["elapsed"]] - start, warnings = messages)
}

warning_note <- function(label, messages) {
  if (length(messages) == 0) return(character(0))
  top <- names(sort(table(substr(messages, 1, 80)), decreasing = TRUE))[1]
  sprintf("%s: %d warnings (e.g. '%s')", label, length(messages), top)
}

python_term_names <- function(names, job) {
  names[names == "(Intercept)"] <- "Intercept"
  for (column in names(job$factors)) {
    levels <- unlist(job$factors[[column]])
    for (level in levels[-1]) {
      names[names == paste0(column, level)] <- sprintf("%s[T.%s]", column, level)
    }
  }
  names
}

fit_one <- function(d, job) {
  formula <- as.formula(job$formula)
  if (job$family == "binomial") {
    glmer(formula, data = d, family = binomial)
  } else {
    lmerTest::lmer(formula, data = d, REML = TRUE)
  }
}

# Named vector of variance components, named as bayesimpute's variance_components().
variance_components <- function(fit, job) {
  vc <- as.data.frame(VarCorr(fit))
  out <- c()
  name <- function(v) ifelse(v == "(Intercept)", "Intercept", v)
  for (i in seq_len(nrow(vc))) {
    group <- sub("\\.[0-9]+$", "", vc$grp[i])
    if (vc$grp[i] == "Residual") {
      out["residual"] <- vc$vcov[i]
    } else if (is.na(vc$var2[i])) {
      out[sprintf("%s: %s", group, name(vc$var1[i]))] <- vc$vcov[i]
    } else {
      pair <- sprintf("%s, %s", name(vc$var1[i]), name(vc$var2[i]))
      out[sprintf("%s: cov(%s)", group, pair)] <- vc$vcov[i]
      out[sprintf("%s: corr(%s)", group, pair)] <- vc$sdcor[i]
    }
  }
  random <- vc[vc$grp != "Residual" & is.na(vc$var2), ]
  if (nrow(random) == 1 && random$var1 == "(Intercept)") {
    residual <- if (job$family == "binomial") pi^2 / 3 else out[["residual"]]
    out["icc"] <- random$vcov / (random$vcov + residual)
  }
  out
}

term_dfcom <- function(fit, job) {
  if (job$family == "binomial") {
    rep(nobs(fit) - length(fixef(fit)), length(fixef(fit)))
  } else {
    summary(fit)$coefficients[, "df"]
  }
}

# Fit every completed data set, pool, and return tidy rows (one per parameter).
analyse_and_pool <- function(datasets, job) {
  fitted <- timed(lapply(datasets, fit_one, job = job))
  fits <- fitted$value
  Q <- sapply(fits, fixef)
  U <- sapply(fits, function(f) diag(as.matrix(vcov(f))))
  dfcom <- rowMeans(sapply(fits, term_dfcom, job = job))
  rows <- lapply(seq_len(nrow(Q)), function(k) {
    p <- pool.scalar(Q[k, ], U[k, ], n = dfcom[k] + 1, k = 1)
    half <- qt(0.975, p$df) * sqrt(p$t)
    data.frame(parameter = rownames(Q)[k], kind = "fixed", estimate = p$qbar,
               std_error = sqrt(p$t), df = p$df, conf_low = p$qbar - half,
               conf_high = p$qbar + half)
  })
  fixed <- do.call(rbind, rows)
  fixed$parameter <- python_term_names(fixed$parameter, job)
  components <- lapply(fits, variance_components, job = job)
  component_names <- Reduce(union, lapply(components, names))
  variance <- data.frame(parameter = component_names, kind = "variance",
                         estimate = sapply(component_names, function(n) mean(sapply(components, `[`, n))),
                         std_error = NA, df = NA, conf_low = NA, conf_high = NA)
  list(rows = rbind(fixed, variance), seconds = fitted$seconds,
       warnings = fitted$warnings)
}

imputed_mean_rows <- function(datasets, job) {
  if (length(job$imputed_means) == 0) return(NULL)
  rows <- lapply(names(job$imputed_means), function(name) {
    spec <- job$imputed_means[[name]]
    rows <- unlist(spec$rows)
    value <- mean(sapply(datasets, function(d) mean(as.numeric(d[[spec$column]][rows]))))
    data.frame(parameter = name, kind = "imputed mean", estimate = value, std_error = NA,
               df = NA, conf_low = NA, conf_high = NA)
  })
  do.call(rbind, rows)
}

peer_versions <- function(packages) {
  packages <- unique(c("mice", "lme4", packages))
  paste(sprintf("%s %s", packages, sapply(packages, function(p) as.character(packageVersion(p)))),
        collapse = ", ")
}

# The whole tail of every engine: analysis, pooling, imputed means, one CSV of rows.
finish <- function(job, datasets, imputation, packages, elapsed) {
  datasets <- lapply(datasets, from_integer_codes, job = job)
  pooled <- analyse_and_pool(datasets, job)
  rows <- rbind(pooled$rows, imputed_mean_rows(datasets, job))
  notes <- c(warning_note("imputation", imputation$warnings),
             warning_note("analysis", pooled$warnings))
  rows$seconds <- imputation$seconds
  rows$analysis_seconds <- pooled$seconds
  rows$note <- paste(notes, collapse = "; ")
  rows$version <- peer_versions(packages)
  rows$job_seconds <- elapsed + pooled$seconds
  write.csv(rows, job$out, row.names = FALSE)
}
