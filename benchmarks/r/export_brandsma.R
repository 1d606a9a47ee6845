# Exports mice's brandsma data (Brandsma & Knuver 1989; Snijders & Bosker 2012) to the CSV that
# ships in bayesimpute/datasets/data/brandsma.csv. Run once from the repository root:
#   Rscript benchmarks/r/export_brandsma.R
# mice is GPL-2 | GPL-3; the data keep that licence (see PROVENANCE.md beside the CSV).
suppressPackageStartupMessages(library(mice))
data(brandsma, package = "mice")
stopifnot(nrow(brandsma) == 4106, length(unique(brandsma$sch)) == 216)
out <- file.path("bayesimpute", "datasets", "data", "brandsma.csv")
write.csv(brandsma, out, row.names = FALSE, na = "NA")
cat("wrote", out, "with", nrow(brandsma), "rows; mice", as.character(packageVersion("mice")), "\n")
