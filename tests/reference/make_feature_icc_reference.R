# Reference values for tests/classifiers/test_feature_study.py, from R's psych and base R.
# Run from the repository root:  Rscript tests/reference/make_feature_icc_reference.R
# Writes tests/reference/feature_icc_reference.json: two mask sources (pred, ref) x 30 cases
# of three features, the skewness psych::skew(type = 2) of each feature pooled over both
# sources, psych::ICC (ICC2 = ICC(A,1), 95% bounds) on log(values) for the skewed positive
# feature and on the raw values for the others, and Bland-Altman numbers of the volume
# (bias = mean(pred - ref), sd, limits bias -/+ 1.96 sd).
suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})
set.seed(20240604)
n <- 30
energy_true <- rlnorm(n, 10, 1.2)                   # positive, heavily skewed
energy <- cbind(pred = energy_true * exp(rnorm(n, 0.05, 0.25)), ref = energy_true * exp(rnorm(n, 0, 0.25)))
corr_true <- rnorm(n, 0.3, 0.2)                      # symmetric, takes negative values
correlation <- cbind(pred = corr_true + rnorm(n, 0, 0.08), ref = corr_true + rnorm(n, 0, 0.08))
vol_true <- runif(n, 0.5, 6)                         # positive, not skewed
volume <- cbind(pred = vol_true * runif(n, 0.7, 1.1), ref = vol_true)
icc_entry <- function(x) {
  r <- ICC(x, lmer = FALSE, alpha = 0.05)$results
  a <- r[r$type == "ICC2", ]
  list(icc_a1 = a$ICC, icc_a1_ci_low = a$`lower bound`, icc_a1_ci_high = a$`upper bound`)
}
d <- volume[, "pred"] - volume[, "ref"]
out <- list(
  source = paste("R", getRversion(), "psych", as.character(packageVersion("psych")),
                 "ICC(x, lmer = FALSE); skew(type = 2)"),
  features = list(
    original_firstorder_Energy = list(pred = energy[, "pred"], ref = energy[, "ref"],
      skewness = skew(c(energy), type = 2), transform = "log", icc = icc_entry(log(energy))),
    original_glcm_Correlation = list(pred = correlation[, "pred"], ref = correlation[, "ref"],
      skewness = skew(c(correlation), type = 2), transform = "identity", icc = icc_entry(correlation)),
    fm_volume_ml = list(pred = volume[, "pred"], ref = volume[, "ref"],
      skewness = skew(c(volume), type = 2), transform = "identity", icc = icc_entry(volume))),
  bland_altman = list(bias_ml = mean(d), sd_difference_ml = sd(d),
                      loa_low_ml = mean(d) - 1.96 * sd(d), loa_high_ml = mean(d) + 1.96 * sd(d)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/reference/feature_icc_reference.json")
