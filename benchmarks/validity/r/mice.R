# R peer: mice (2l.pan, 2l.lmer, 2l.bin, 2lonly.norm, 2lonly.pmm, ...) and miceadds (2l.pmm).
# recipe:
#   method          column -> mice method name (others not imputed)
#   predictors      imputed column -> {predictor: mice code} (codes not given are 0)
#   integer_coded   factor columns imputed as integer codes 1..K (the tutorial's coding for
#                   2l.pmm), turned back into factors before the analysis
#   packages        extra packages to attach (miceadds for 2l.pmm)
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))),
                 "common.R"))

impute_job <- function(job) {
  recipe <- job$recipe
  packages <- unlist(recipe$packages)
  for (p in packages) suppressMessages(library(p, character.only = TRUE))
  d <- as_integer_codes(read_data(job), unlist(recipe$integer_coded))
  method <- make.method(d)
  method[] <- ""
  for (column in names(recipe$method)) method[column] <- recipe$method[[column]]
  pred <- make.predictorMatrix(d)
  pred[, ] <- 0
  for (column in names(recipe$predictors)) {
    codes <- recipe$predictors[[column]]
    pred[column, names(codes)] <- unlist(codes)
  }
  imputation <- timed(mice(d, m = job$m, maxit = job$maxit, method = method,
                           predictorMatrix = pred, seed = job$seed, printFlag = FALSE))
  datasets <- lapply(seq_len(job$m), function(i) complete(imputation$value, i))
  list(datasets = datasets, imputation = imputation, packages = packages)
}

run_jobs(impute_job)
