# R reference numbers of the ScotsSec case study (notebooks/cross_classified.ipynb, and the
# check of the simulations' REML fitter): lme4 REML fits of
#   attain ~ verbal + sex + social + (1 | primary) + (1 | second)
# on the complete data and on the complete cases of the incomplete file, and miceadds'
# ml.lmer imputation (m = 20, maxit = 10, random intercepts for primary and secondary
# school, iter_re = 10 as its help advises for unbalanced cross-classified data) pooled by
# Rubin's rules with variance components averaged over the m fits.
# Run from the repository root:   Rscript benchmarks/r/scotssec_reference.R
# Writes benchmarks/results/scotssec_r.csv (analysis, term, estimate, std_error, seconds).
suppressPackageStartupMessages({library(lme4); library(mice); library(miceadds)})
dir <- file.path("bayesimpute", "datasets", "data")
read <- function(f) {
  d <- read.csv(file.path(dir, f))
  d$sex <- factor(d$sex, levels = c("F", "M"))
  d
}
complete <- read("scotssec.csv")
incomplete <- read("scotssec_incomplete.csv")
form <- attain ~ verbal + sex + social + (1 | primary) + (1 | second)

rows <- function(fit, analysis, seconds = NA) {
  fe <- fixef(fit); se <- sqrt(diag(as.matrix(vcov(fit))))
  vc <- as.data.frame(VarCorr(fit))
  names(fe) <- sub("\\(Intercept\\)", "Intercept", names(fe))
  rbind(data.frame(analysis = analysis, term = names(fe), estimate = unname(fe),
                   std_error = unname(se), seconds = seconds),
        data.frame(analysis = analysis,
                   term = ifelse(vc$grp == "Residual", "residual", paste0(vc$grp, ": Intercept")),
                   estimate = vc$vcov, std_error = NA, seconds = seconds))
}
out <- rbind(rows(lmer(form, complete), "complete"),
             rows(lmer(form, na.omit(incomplete)), "complete cases"))

meth <- make.method(incomplete)
meth[c("verbal", "attain")] <- "ml.lmer"
pred <- make.predictorMatrix(incomplete)
pred[, c("primary", "second")] <- 0
levels_id <- list(verbal = c("primary", "second"), attain = c("primary", "second"))
# every incomplete variable lives at the pupil level
variables_levels <- miceadds:::mice_imputation_create_type_vector(colnames(incomplete), value = "")
t <- system.time(imp <- mice(incomplete, m = 20, maxit = 10, method = meth,
                             predictorMatrix = pred, levels_id = levels_id,
                             variables_levels = variables_levels, iter_re = 10,
                             seed = 2026, printFlag = FALSE))[["elapsed"]]
fits <- lapply(seq_len(20), function(i) lmer(form, complete(imp, i)))
# Rubin's rules by hand (Barnard-Rubin df are not needed here: only estimates and s.e.)
Q <- sapply(fits, fixef)
U <- sapply(fits, function(f) diag(as.matrix(vcov(f))))
m <- ncol(Q)
total <- rowMeans(U) + (1 + 1 / m) * apply(Q, 1, var)
fixed <- data.frame(analysis = "miceadds ml.lmer",
                    term = sub("\\(Intercept\\)", "Intercept", rownames(Q)),
                    estimate = rowMeans(Q), std_error = sqrt(total), seconds = t)
vcs <- do.call(rbind, lapply(fits, function(f) as.data.frame(VarCorr(f))))
vcs$term <- ifelse(vcs$grp == "Residual", "residual", paste0(vcs$grp, ": Intercept"))
vc <- aggregate(vcov ~ term, vcs, mean)
out <- rbind(out, fixed, data.frame(analysis = "miceadds ml.lmer", term = vc$term,
                                    estimate = vc$vcov, std_error = NA, seconds = t))
write.csv(out, file.path("benchmarks", "results", "scotssec_r.csv"), row.names = FALSE)
cat("miceadds", as.character(packageVersion("miceadds")), "lme4",
    as.character(packageVersion("lme4")), "ml.lmer seconds", t, "\n")
print(out)
