# The reference models of the analysis layer and their data: sourced by reference_fits.R (which
# writes the reference values) and time_fits.R (which times lme4 on them). Expects `out_dir`
# and `write_sims` (write the simulated data sets to tests/reference/sim_*.csv) to be set.
data_dir <- file.path("bayesimpute", "datasets", "data")
read_pkg <- function(file) {
  read.csv(file.path(data_dir, file), na.strings = "NA", stringsAsFactors = FALSE)
}

# ------------------------------------------------------------------ shipped data, as the loaders
popmis <- read_pkg("popmis.csv")
brandsma <- read_pkg("brandsma.csv")
brandsma$den <- factor(brandsma$den, levels = 1:4)
obesity <- read_pkg("obesity.csv")
obesity$Gender <- factor(obesity$Gender, levels = c("Female", "Male"))
obesity$FamOb <- factor(obesity$FamOb, levels = c("no", "yes"))
impact_levels <- function(d) {
  d$type <- factor(d$type, levels = c("OBS", "RCT"))
  # Unordered: the published tables use treatment contrasts (an ordered factor would get R's
  # polynomial contrasts).
  d$motor_score <- factor(d$motor_score, levels = c("1/2", "3", "4", "5/6"))
  d$pupil <- factor(d$pupil, levels = c("Both", "One", "None"))
  d$ct <- factor(d$ct, levels = c("I/II", "III", "IV/V"))
  d$name <- factor(d$name, levels = unique(d$name))
  d
}
impact <- impact_levels(read.csv(file.path(data_dir, "impact.csv"), na.strings = "NA",
                                 stringsAsFactors = FALSE))

# ------------------------------------------------------------------ simulated data
write_sim <- function(d, name) {
  if (write_sims) write.csv(d, file.path(out_dir, paste0("sim_", name, ".csv")), row.names = FALSE)
  d
}

# Crossed: 1,000 rows, each in one of 40 levels of a and 25 levels of b (assigned at random).
set.seed(20240501)
n <- 1000
a <- sample(40, n, replace = TRUE)
b <- sample(25, n, replace = TRUE)
x <- rnorm(n)
w <- rbinom(n, 1, 0.4)
ua <- MASS::mvrnorm(40, c(0, 0), matrix(c(0.6, -0.15, -0.15, 0.25), 2))
ub <- rnorm(25, 0, 0.5)
y <- 1 + 0.5 * x - 0.3 * w + ua[a, 1] + ua[a, 2] * x + ub[b] + rnorm(n)
eta_bin <- -0.4 + 0.8 * x + rnorm(40, 0, 0.7)[a] + rnorm(25, 0, 0.5)[b]
va <- MASS::mvrnorm(40, c(0, 0), matrix(c(0.3, 0.05, 0.05, 0.1), 2))
eta_count <- 0.5 + 0.3 * x + va[a, 1] + va[a, 2] * x + rnorm(25, 0, 0.3)[b]
crossed <- write_sim(data.frame(
  a = a, b = b, x = round(x, 6), w = w, y = round(y, 6),
  ybin = rbinom(n, 1, plogis(eta_bin)), count = rpois(n, exp(eta_count))
), "crossed")

# Nested three levels: 30 schools x 4 classes x 10 pupils; class ids repeat across schools
# (1-4), so only school/class identifies a class. Variance shares 0.2 / 0.1 / 0.7.
set.seed(20240502)
school <- rep(1:30, each = 40)
class <- rep(rep(1:4, each = 10), 30)
class_id <- (school - 1) * 4 + class
x <- rnorm(1200)
z <- rnorm(120)[class_id]  # class-level predictor
slope <- rnorm(30, 0, 0.3)
y <- 2 + 0.4 * x + 0.3 * z + rnorm(30, 0, sqrt(0.2))[school] + slope[school] * x +
  rnorm(120, 0, sqrt(0.1))[class_id] + rnorm(1200, 0, sqrt(0.7))
nested <- write_sim(data.frame(school = school, class = class, x = round(x, 6),
                               z = round(z, 6), y = round(y, 6)), "nested")

# Binomial with a correlated random intercept and slope: 40 clusters x 30 rows.
set.seed(20240503)
g <- rep(1:40, each = 30)
x <- rnorm(1200)
w <- rbinom(1200, 1, 0.4)
u <- MASS::mvrnorm(40, c(0, 0), matrix(c(0.64, 0.16, 0.16, 0.25), 2))
eta <- -0.5 + 0.7 * x + 0.4 * w + u[g, 1] + u[g, 2] * x
binomial_slope <- write_sim(data.frame(g = g, x = round(x, 6), w = w,
                                       y = rbinom(1200, 1, plogis(eta))), "binomial")

# Singular by construction: 12 clusters x 15 rows, no cluster effect, and the noise centred
# within each cluster, so the clusters vary less than the noise alone would make them: the
# (RE)ML cluster variances are zero and both lme4 and bayesimpute must flag the fit singular.
set.seed(20240504)
g <- rep(1:12, each = 15)
x <- rnorm(180)
e <- rnorm(180)
e <- e - ave(e, g)
singular <- write_sim(data.frame(g = g, x = round(x, 6), y = round(1 + 0.5 * x + e, 6)),
                      "singular")

# ------------------------------------------------------------------ reference models
models <- list(
  list(id = "popmis", data = "popmis", family = "gaussian", reml = TRUE,
       formula = popular ~ texp + sex + (1 | school)),
  # the null model of bi.icc (observed rows of popular)
  list(id = "popmis_null", data = "popmis", family = "gaussian", reml = TRUE,
       formula = popular ~ 1 + (1 | school)),
  list(id = "popmis_slope", data = "popmis", family = "gaussian", reml = TRUE,
       formula = popular ~ texp + sex + (1 + sex | school)),
  list(id = "popmis_uncorrelated", data = "popmis", family = "gaussian", reml = TRUE,
       formula = popular ~ texp + sex + (1 + sex || school)),
  list(id = "brandsma", data = "brandsma", family = "gaussian", reml = TRUE,
       formula = lpo ~ iqv + sex + ses + ssi + den + (1 + iqv | sch)),
  list(id = "brandsma_ml", data = "brandsma", family = "gaussian", reml = FALSE,
       formula = lpo ~ iqv + sex + ses + ssi + den + (1 + iqv | sch)),
  list(id = "obesity", data = "obesity", family = "gaussian", reml = TRUE,
       formula = BMI ~ Age + FamOb + Gender + (1 + Age | Cluster)),
  list(id = "crossed", data = "crossed", family = "gaussian", reml = TRUE,
       formula = y ~ x + w + (1 + x | a) + (1 | b)),
  list(id = "nested", data = "nested", family = "gaussian", reml = TRUE,
       formula = y ~ x + z + (1 | school / class)),
  list(id = "nested_slope", data = "nested", family = "gaussian", reml = TRUE,
       formula = y ~ x + z + (1 + x | school) + (1 | school:class)),
  list(id = "singular", data = "singular", family = "gaussian", reml = TRUE,
       formula = y ~ x + (1 + x | g)),
  list(id = "impact", data = "impact", family = "binomial", reml = FALSE,
       formula = mort ~ type + age + motor_score + pupil + ct + (1 | name)),
  list(id = "binomial_slope", data = "binomial", family = "binomial", reml = FALSE,
       formula = y ~ x + w + (1 + x | g)),
  list(id = "binomial_crossed", data = "crossed", family = "binomial", reml = FALSE,
       formula = ybin ~ x + (1 | a) + (1 | b)),
  list(id = "poisson", data = "crossed", family = "poisson", reml = FALSE,
       formula = count ~ x + (1 + x | a) + (1 | b))
)
datasets <- list(popmis = popmis, brandsma = brandsma, obesity = obesity, impact = impact,
                 crossed = crossed, nested = nested, binomial = binomial_slope,
                 singular = singular)

# Grouping factors as factors, as lme4 makes them anyway.
as_groups <- function(d, formula) {
  for (v in all.vars(formula)) {
    if (v %in% c("school", "class", "sch", "Cluster", "g", "a", "b", "name")) d[[v]] <- factor(d[[v]])
  }
  d
}

# R coefficient name -> bayesimpute's: "(Intercept)" -> "Intercept", "den2" -> "den[T.2]".
py_name <- function(name, d) {
  if (name == "(Intercept)") return("Intercept")
  parts <- strsplit(name, ":", fixed = TRUE)[[1]]
  factors <- names(d)[vapply(d, is.factor, logical(1))]
  for (i in seq_along(parts)) {
    for (f in factors) {
      for (level in levels(d[[f]])) {
        if (parts[i] == paste0(f, level)) parts[i] <- paste0(f, "[T.", level, "]")
      }
    }
  }
  paste(parts, collapse = ":")
}

