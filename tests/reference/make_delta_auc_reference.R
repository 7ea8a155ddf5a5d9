# Reference paired-AUC differences for tests/core/test_model_comparison.py, from R's pROC.
# Run from the repository root:  Rscript tests/reference/make_delta_auc_reference.R
# Writes tests/reference/delta_auc_reference.json: per data set the labels, two scores,
# and roc.test(method = "delong", paired = TRUE)'s AUCs, Z, p and 95% (and 90%) CI of AUC1 - AUC2.
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})
set.seed(20240602)
make <- function(n, shift_a, shift_b, digits) {
  y <- rbinom(n, 1, 0.4)
  latent <- rnorm(n)
  a <- round(shift_a * y + latent + rnorm(n, 0, 0.7), digits)
  b <- round(shift_b * y + 0.6 * latent + rnorm(n, 0, 1), digits)
  list(y = y, a = a, b = b)
}
datasets <- list(correlated_60 = make(60, 1.2, 0.6, 2), ties_40 = make(40, 1.0, 0.9, 0),
                 large_300 = make(300, 0.8, 0.8, 3))
out <- list(source = paste("R", getRversion(), "pROC", as.character(packageVersion("pROC")),
                           "roc.test(roc(y, a), roc(y, b), method = 'delong', paired = TRUE)"),
            datasets = list())
for (name in names(datasets)) {
  d <- datasets[[name]]
  r1 <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  t95 <- roc.test(r1, r2, method = "delong", paired = TRUE, conf.level = 0.95)
  t90 <- roc.test(r1, r2, method = "delong", paired = TRUE, conf.level = 0.90)
  out$datasets[[name]] <- list(y = d$y, score_1 = d$a, score_2 = d$b,
    auc_1 = as.numeric(t95$estimate[1]), auc_2 = as.numeric(t95$estimate[2]),
    z = as.numeric(t95$statistic), p = t95$p.value,
    ci95 = as.numeric(t95$conf.int), ci90 = as.numeric(t90$conf.int))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/reference/delta_auc_reference.json")
