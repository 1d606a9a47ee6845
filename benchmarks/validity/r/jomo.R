# R peer: joint-model imputation by jomo through mitml::jomoImpute.
# recipe:
#   formula         jomoImpute's model, e.g. "y ~ 1 + x + w + (1 | g)" (targets on the left,
#                   complete predictors on the right), or a level-1 and a level-2 formula
#   n_burn, n_iter  burn-in and iterations between imputations
#   as_factor       numeric 0/1 columns jomo must see as factors (turned back afterwards)
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))),
                 "common.R"))
suppressMessages({ library(mitml); library(jomo) })

impute_job <- function(job) {
  recipe <- job$recipe
  d <- read_data(job)
  binary <- unlist(recipe$as_factor)
  for (column in binary) d[[column]] <- factor(d[[column]])
  formula <- lapply(recipe$formula, as.formula)
  if (length(formula) == 1) formula <- formula[[1]]
  imputation <- timed(jomoImpute(d, formula = formula, n.burn = recipe$n_burn,
                                 n.iter = recipe$n_iter, m = job$m, seed = job$seed,
                                 silent = TRUE))
  datasets <- lapply(mitmlComplete(imputation$value, print = "all"), function(one) {
    one <- as.data.frame(one)
    for (column in binary) one[[column]] <- as.numeric(as.character(one[[column]]))
    one
  })
  list(datasets = datasets, imputation = imputation, packages = c("mitml", "jomo"))
}

run_jobs(impute_job)
