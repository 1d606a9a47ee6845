# Reference values of the analysis layer: every lme4 / lmerTest / glmer / mice / mitml number that
# tests/analysis/ compares against is written by this script, and only by it.
#
# Run from the repository root (R >= 4.2 with lme4, lmerTest, mice, mitml):
#   Rscript benchmarks/r/reference_fits.R
# (benchmarks/r/time_fits.R times lme4 on the same models; benchmarks/bench_analysis.py runs it.)
#
# Writes under tests/reference/:
#   sim_*.csv            simulated data sets (fixed seeds; R and Python fit the same rows)
#   lme4_fits.csv        one row per reference model: logLik, REML criterion / deviance, sigma,
#                        theta, isSingular, number of rows and of levels per grouping factor
#   lme4_fixed.csv       fixed effects: estimate, std. error, Satterthwaite df (lmerTest)
#   lme4_varcorr.csv     variances, covariances, correlations, residual variance
#   popmis_imputed.csv   m = 5 completed popmis data sets (mice 2l.pan, seed 123)
#   mitml_pooled.csv     their pooled fixed effects (mitml testEstimates, mice barnard.rubin)
#   mitml_components.csv their pooled variance components (testEstimates(extra.pars = TRUE))
#   mitml_tests.csv      D1 / D2 (mitml testModels) on the same fits
#   pooling_literals.csv mice / mitml pooling of a small hand-made set of estimates
#
# Term and component names follow bayesimpute's (patsy-style) naming: "(Intercept)" is
# "Intercept", a factor level "den2" is "den[T.2]", a variance is "sch: iqv", a covariance
# "sch: cov(Intercept, iqv)", a correlation "sch: corr(Intercept, iqv)", the residual variance
# "residual".
#
# Tolerances: the reference is the maximiser, not where a default stopping rule halts.
# * lmer's default nloptwrap (NLopt BOBYQA) keeps nloptr's xtol_rel = 1e-4: on brandsma its theta
#   is 2e-4 (relative) from the maximum, and on obesity it stops at a boundary point whose REML
#   logLik is 0.196 below the maximum that lme4's own bobyqa and Nelder_Mead reach. So lmer is
#   fitted with optimizer = "bobyqa" (minqa), rhoend = 1e-12.
# * glmer's PIRLS stops at tolPwrss = 1e-7, where the conditional modes are not converged and
#   the Laplace logLik is up to 9e-4 low (binomial_slope: -700.13345; with tolPwrss = 1e-10,
#   -700.13257 at other theta), and the finite-difference Hessian behind vcov() is off by up
#   to 0.3% (poisson: s.e. 0.10186 at 1e-10, 0.10198 at 1e-13, where numDeriv's Richardson
#   Hessian of lme4's own deviance function agrees). So glmer gets tolPwrss = 1e-13 and bobyqa
#   with rhoend = 1e-10 in both stages.
# The default-control estimates are written too (*_default columns) to show the difference.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(mice)
  library(mitml)
})
out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
write_sims <- TRUE
source(file.path("benchmarks", "r", "reference_models.R"))

tight_lmer <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
tight_glmer <- glmerControl(optimizer = c("bobyqa", "bobyqa"), tolPwrss = 1e-13,
                            optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

fit_model <- function(spec, d, tight = TRUE) {
  if (spec$family == "gaussian") {
    control <- if (tight) tight_lmer else lmerControl()
    lmerTest::lmer(spec$formula, data = d, REML = spec$reml, control = control)
  } else {
    control <- if (tight) tight_glmer else glmerControl()
    glmer(spec$formula, data = d, family = spec$family, control = control)
  }
}

component_rows <- function(fit, d, id) {
  vc <- as.data.frame(VarCorr(fit))
  groups <- unique(vc$grp[vc$grp != "Residual"])
  rows <- list()
  for (i in seq_len(nrow(vc))) {
    r <- vc[i, ]
    if (r$grp == "Residual") {
      rows[[i]] <- data.frame(model = id, component = "residual", value = r$vcov)
      next
    }
    grp <- r$grp
    # lme4 names the second term of a split bar "g.1" (|| or two bars on one factor).
    base <- sub("\\.[0-9]+$", "", grp)
    if (base != grp && base %in% c(groups, all.vars(formula(fit)))) grp <- base
    v1 <- py_name(r$var1, d)
    if (is.na(r$var2)) {
      rows[[i]] <- data.frame(model = id, component = paste0(grp, ": ", v1), value = r$vcov)
    } else {
      v2 <- py_name(r$var2, d)
      rows[[i]] <- rbind(
        data.frame(model = id, component = sprintf("%s: cov(%s, %s)", grp, v1, v2),
                   value = r$vcov),
        data.frame(model = id, component = sprintf("%s: corr(%s, %s)", grp, v1, v2),
                   value = r$sdcor))
    }
  }
  do.call(rbind, rows)
}

fits_rows <- list(); fixed_rows <- list(); vc_rows <- list()
for (spec in models) {
  d <- as_groups(datasets[[spec$data]], spec$formula)
  d <- d[complete.cases(d[, all.vars(spec$formula)]), ]
  fit <- fit_model(spec, d, tight = TRUE)
  default <- suppressMessages(suppressWarnings(fit_model(spec, d, tight = FALSE)))
  gaussian <- spec$family == "gaussian"
  coefs <- if (gaussian) coef(summary(fit)) else coef(summary(fit))
  df <- if (gaussian) coefs[, "df"] else rep(NA_real_, nrow(coefs))
  terms <- vapply(rownames(coefs), py_name, character(1), d = d)
  fixed_rows[[spec$id]] <- data.frame(
    model = spec$id, term = terms, estimate = unname(fixef(fit)),
    std_error = unname(sqrt(diag(as.matrix(vcov(fit))))), df = unname(df),
    estimate_default = unname(fixef(default)),
    std_error_default = unname(sqrt(diag(as.matrix(vcov(default))))))
  vc_rows[[spec$id]] <- component_rows(fit, d, spec$id)
  levels_text <- paste(sprintf("%s=%d", names(ngrps(fit)), ngrps(fit)), collapse = ";")
  fits_rows[[spec$id]] <- data.frame(
    model = spec$id, data = spec$data, family = spec$family, reml = spec$reml,
    formula = paste(deparse(spec$formula, width.cutoff = 500), collapse = ""),
    nobs = nobs(fit), loglik = as.numeric(logLik(fit)),
    criterion = if (gaussian) unname(getME(fit, "devcomp")$cmp[if (spec$reml) "REML" else "dev"])
                else deviance(fit),
    sigma = sigma(fit), is_singular = isSingular(fit),
    theta = paste(format(getME(fit, "theta"), digits = 15), collapse = " "),
    loglik_default = as.numeric(logLik(default)), n_groups = levels_text)
  cat(sprintf("%-20s logLik %.4f  singular %s\n", spec$id, as.numeric(logLik(fit)),
              isSingular(fit)))
}
write.csv(do.call(rbind, fits_rows), file.path(out_dir, "lme4_fits.csv"), row.names = FALSE)
write.csv(do.call(rbind, fixed_rows), file.path(out_dir, "lme4_fixed.csv"), row.names = FALSE)
write.csv(do.call(rbind, vc_rows), file.path(out_dir, "lme4_varcorr.csv"), row.names = FALSE)

# ------------------------------------------------------------------ pooling: mitml / mice
# m = 5 completed popmis data sets (mice 2l.pan, the tutorial's predictor matrix), then
# lmer on each and mitml's pooling; bayesimpute pools its own fits of the same rows.
pred <- make.predictorMatrix(popmis)
pred[, ] <- 0
pred["popular", c("school", "sex", "texp")] <- c(-2, 2, 1)
meth <- make.method(popmis)
meth[] <- ""
meth["popular"] <- "2l.pan"
imp <- mice(popmis, method = meth, predictorMatrix = pred, m = 5, maxit = 10, seed = 123,
            printFlag = FALSE)
long <- complete(imp, "long")
write.csv(long[, c(".imp", ".id", "school", "popular", "sex", "texp")],
          file.path(out_dir, "popmis_imputed.csv"), row.names = FALSE)
completed <- lapply(1:5, function(i) {
  d <- complete(imp, i)
  d$school <- factor(d$school)
  d
})
full <- lapply(completed, function(d) {
  lmerTest::lmer(popular ~ texp + sex + (1 | school), data = d, REML = TRUE, control = tight_lmer)
})
null <- lapply(completed, function(d) {
  lmerTest::lmer(popular ~ 1 + (1 | school), data = d, REML = TRUE, control = tight_lmer)
})

class(full) <- class(null) <- "mitml.result"

# Fixed effects: mitml with mice's residual df (n - p), and the per-term Satterthwaite df
# (lmerTest, averaged over the fits) that bayesimpute's pool() uses by default, with mice's
# barnard.rubin.
n_obs <- nrow(completed[[1]])
resid_df <- n_obs - 3
est <- testEstimates(full, extra.pars = TRUE, df.com = resid_df)
qhat <- sapply(full, fixef)
uhat <- sapply(full, function(f) diag(as.matrix(vcov(f))))
satt <- rowMeans(sapply(full, function(f) coef(summary(f))[, "df"]))
m <- 5
qbar <- rowMeans(qhat); ubar <- rowMeans(uhat); bvar <- apply(qhat, 1, var)
tvar <- ubar + (1 + 1 / m) * bvar
df_satt <- mapply(function(b, t, dfc) mice:::barnard.rubin(m, b, t, dfc), bvar, tvar, satt)
fixed_pool <- data.frame(
  term = vapply(rownames(est$estimates), py_name, character(1), d = completed[[1]]),
  estimate = est$estimates[, "Estimate"], std_error = est$estimates[, "Std.Error"],
  df_residual = est$estimates[, "df"], riv = est$estimates[, "RIV"],
  fmi = est$estimates[, "FMI"], dfcom_satterthwaite = satt, df_satterthwaite = df_satt)
write.csv(fixed_pool, file.path(out_dir, "mitml_pooled.csv"), row.names = FALSE)
extra <- est$extra.pars
components <- data.frame(raw = rownames(extra), estimate = extra[, 1])
components$component <- c("school: Intercept", "residual", "icc")[match(
  components$raw, c("Intercept~~Intercept|school", "Residual~~Residual", "ICC|school"))]
write.csv(components, file.path(out_dir, "mitml_components.csv"), row.names = FALSE)
d1 <- testModels(full, null, method = "D1", df.com = resid_df)
d1_inf <- testModels(full, null, method = "D1")
d2 <- testModels(full, null, method = "D2", use = "wald")
test_row <- function(name, t, dfcom) {
  data.frame(test = name, dfcom = dfcom, statistic = t$test[1, "F.value"], df1 = t$test[1, "df1"],
             df2 = t$test[1, "df2"], p_value = t$test[1, "P(>F)"], riv = t$test[1, "RIV"])
}
write.csv(rbind(test_row("D1", d1, resid_df), test_row("D1", d1_inf, Inf),
                test_row("D2", d2, Inf)),
          file.path(out_dir, "mitml_tests.csv"), row.names = FALSE)

# A small hand-made set: m = 5 estimates of two parameters a, b with their covariances.
est_a <- c(1.10, 1.25, 0.95, 1.30, 1.05); est_b <- c(-0.50, -0.42, -0.61, -0.55, -0.47)
var_a <- c(0.040, 0.045, 0.038, 0.050, 0.042); var_b <- c(0.010, 0.012, 0.011, 0.009, 0.010)
cov_ab <- c(0.005, 0.006, 0.004, 0.007, 0.005)
q_small <- rbind(a = est_a, b = est_b)
u_small <- array(NA, c(2, 2, 5), dimnames = list(c("a", "b"), c("a", "b"), NULL))
for (i in 1:5) u_small[, , i] <- matrix(c(var_a[i], cov_ab[i], cov_ab[i], var_b[i]), 2)
literal_rows <- list()
for (dfcom in c(100, Inf)) {
  for (p in c("a", "b")) {
    ps <- pool.scalar(q_small[p, ], u_small[p, p, ], n = dfcom + 1, k = 1)
    conf_low <- ps$qbar - qt(0.975, ps$df) * sqrt(ps$t)
    literal_rows[[length(literal_rows) + 1]] <- data.frame(
      kind = "pool", dfcom = dfcom, term = p, estimate = ps$qbar, ubar = ps$ubar, b = ps$b,
      t = ps$t, df = ps$df, riv = ps$r, lambda = (1 + 1 / 5) * ps$b / ps$t, fmi = ps$fmi,
      p_value = 2 * pt(abs(ps$qbar / sqrt(ps$t)), ps$df, lower.tail = FALSE),
      conf_low = conf_low)
  }
}
constraint_test <- function(method, dfcom) {
  t <- testConstraints(qhat = q_small, uhat = u_small, constraints = c("a", "b"),
                       method = method, df.com = if (is.finite(dfcom)) dfcom else NULL)
  data.frame(kind = method, dfcom = dfcom, term = "a,b", estimate = t$test[1, "F.value"],
             ubar = NA, b = NA, t = NA, df = t$test[1, "df2"], riv = t$test[1, "RIV"],
             lambda = NA, fmi = NA, p_value = t$test[1, "P(>F)"], conf_low = NA)
}
literal_rows <- c(literal_rows, list(constraint_test("D1", Inf), constraint_test("D1", 100),
                                     constraint_test("D2", Inf)))
write.csv(do.call(rbind, literal_rows), file.path(out_dir, "pooling_literals.csv"),
          row.names = FALSE)

cat("lme4", as.character(packageVersion("lme4")), "lmerTest",
    as.character(packageVersion("lmerTest")), "mitml", as.character(packageVersion("mitml")),
    "mice", as.character(packageVersion("mice")), "\n")
