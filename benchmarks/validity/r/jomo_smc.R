# R peer: substantive-model-compatible joint imputation, jomo::jomo.lmer / jomo.glmer: the
# incomplete covariates are drawn given the analysis model itself (e.g. its random slope).
# recipe:
#   formula         the substantive model, e.g. "y ~ x + (1 + x | g)"
#   family          "gaussian" (jomo.lmer) or "binomial" (jomo.glmer)
#   cluster         the cluster column (jomo returns it as "clus")
#   n_burn, n_between
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))),
                 "common.R"))
suppressMessages(library(jomo))

impute_job <- function(job) {
  recipe <- job$recipe
  d <- read_data(job)
  set.seed(job$seed)
  engine <- if (identical(recipe$family, "binomial")) jomo::jomo.glmer else jomo::jomo.lmer
  variables <- all.vars(as.formula(recipe$formula))
  imputation <- timed(engine(as.formula(recipe$formula), data = d[, variables],
                             nburn = recipe$n_burn, nbetween = recipe$n_between,
                             nimp = job$m, output = 0))
  long <- imputation$value
  datasets <- lapply(seq_len(job$m), function(i) {
    one <- long[long$Imputation == i, ]
    one[[recipe$cluster]] <- one$clus
    one
  })
  list(datasets = datasets, imputation = imputation, packages = "jomo")
}

run_jobs(impute_job)
