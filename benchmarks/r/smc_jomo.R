# R peer of benchmarks/validity_smc.py: substantive-model-compatible joint imputation with
# jomo::jomo.lmer (Gaussian analysis model), then the analysis of every completed data set
# with lme4 (REML), written back as CSV for Python to pool exactly as it pools its own fits.
#
# usage: Rscript smc_jomo.R data.csv formula m n_burn n_between seed out_prefix
#   data.csv     the incomplete data (NA = missing), columns of the formula + the cluster
#   formula      the analysis model, lme4 syntax, e.g. "y ~ x + (1 + x | g)"
#   out_prefix   writes <prefix>_imputations.csv (the m completed data sets, column .imp)
#                and <prefix>_seconds.txt (imputation wall time)
# R is a benchmark peer only, never a dependency of bayesimpute.
suppressMessages(library(jomo))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 7) stop("usage: Rscript smc_jomo.R data.csv formula m n_burn n_between seed out_prefix")
d <- read.csv(args[1], na.strings = "NA")
formula <- as.formula(args[2])
m <- as.integer(args[3]); n_burn <- as.integer(args[4]); n_between <- as.integer(args[5])
set.seed(as.integer(args[6]))
prefix <- args[7]
variables <- all.vars(formula)
started <- proc.time()[["elapsed"]]
imputed <- suppressMessages(jomo::jomo.lmer(formula, data = d[, variables], nburn = n_burn,
                                            nbetween = n_between, nimp = m, output = 0))
seconds <- proc.time()[["elapsed"]] - started
group <- tail(variables, 1)
long <- imputed[imputed$Imputation > 0, ]
long[[group]] <- long$clus
long <- long[, c("Imputation", variables)]
names(long)[1] <- ".imp"
write.csv(long, paste0(prefix, "_imputations.csv"), row.names = FALSE)
writeLines(format(seconds), paste0(prefix, "_seconds.txt"))
