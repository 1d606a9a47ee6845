# Exports mlmRev's ScotsSec data (Paterson 1991; pupils cross-classified by primary and
# secondary school) to bayesimpute/datasets/data/scotssec.csv, and an incomplete copy with
# missing values imposed by the mechanism below, scotssec_incomplete.csv.
# Run once from the repository root:   Rscript benchmarks/r/export_scotssec.R
# mlmRev is GPL (>= 2); the data keep that licence (see PROVENANCE.md beside the CSVs).
#
# Missingness (seed 2026):
#  - verbal (verbal reasoning, pupil level): missing with probability
#    plogis(-1.3 + 0.9 * z(attain)), z = standardised, about 28%, MAR on the outcome;
#    and missing for every pupil of 15 of the 148 primary schools (10%), chosen at random:
#    systematically missing, never measured in those schools;
#  - attain (attainment, pupil level): missing with probability
#    plogis(-2.1 + 0.8 * (social > 0) + 0.5 * (sex == "M")), about 15%, MAR on covariates.
#  verbal's deletion uses the true attain, which is itself deleted in about 19% of the rows:
#  there whether verbal is missing depends on a missing value, so the mechanism is MAR only
#  where attain is observed (notebooks/cross_classified.ipynb shows the effect, section 8).
suppressPackageStartupMessages(library(mlmRev))
data(ScotsSec, package = "mlmRev")
stopifnot(nrow(ScotsSec) == 3435, nlevels(ScotsSec$primary) == 148, nlevels(ScotsSec$second) == 19)
d <- data.frame(primary = as.integer(as.character(ScotsSec$primary)),
                second = as.integer(as.character(ScotsSec$second)),
                attain = ScotsSec$attain, verbal = ScotsSec$verbal,
                sex = as.character(ScotsSec$sex), social = ScotsSec$social)
dir <- file.path("bayesimpute", "datasets", "data")
write.csv(d, file.path(dir, "scotssec.csv"), row.names = FALSE, na = "NA")

set.seed(2026)
z <- (d$attain - mean(d$attain)) / sd(d$attain)
miss_verbal <- runif(nrow(d)) < plogis(-1.3 + 0.9 * z)
never <- sample(sort(unique(d$primary)), 15)
miss_verbal <- miss_verbal | d$primary %in% never
miss_attain <- runif(nrow(d)) < plogis(-2.1 + 0.8 * (d$social > 0) + 0.5 * (d$sex == "M"))
inc <- d
inc$verbal[miss_verbal] <- NA
inc$attain[miss_attain] <- NA
write.csv(inc, file.path(dir, "scotssec_incomplete.csv"), row.names = FALSE, na = "NA")
cat("wrote scotssec.csv and scotssec_incomplete.csv:", nrow(d), "rows; verbal missing",
    sum(miss_verbal), "(all of primary schools", paste(sort(never), collapse = " "),
    "); attain missing", sum(miss_attain), "; mlmRev", as.character(packageVersion("mlmRev")), "\n")
