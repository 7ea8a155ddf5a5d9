# Reference ICC values for tests/classifiers/test_icc.py, from R's psych::ICC.
# Run from the repository root:  Rscript tests/reference/make_icc_reference.R
# Writes tests/reference/icc_reference.json: each data set's ratings (n x k) and
# psych's single-measure ICC2 (= ICC(A,1)) and ICC3 (= ICC(C,1)) with 95% bounds.
suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})

set.seed(20240501)
datasets <- list()
# Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges.
datasets$shrout_fleiss <- matrix(c(9, 2, 5, 8,
                                   6, 1, 3, 2,
                                   8, 4, 6, 8,
                                   7, 1, 2, 6,
                                   10, 5, 6, 9,
                                   6, 2, 4, 7), ncol = 4, byrow = TRUE)
# Two mask sources, 30 cases, good agreement with a small systematic offset.
truth <- rnorm(30, 50, 10)
datasets$two_sources_offset <- cbind(truth + rnorm(30, 0, 3), truth + 4 + rnorm(30, 0, 3))
# Two sources, poor agreement.
truth <- rnorm(25, 0, 1)
datasets$two_sources_poor <- cbind(truth + rnorm(25, 0, 1.5), truth + rnorm(25, 0, 1.5))
# Three raters, 12 cases, one rater scaled (consistency high, agreement lower).
truth <- rnorm(12, 100, 20)
datasets$three_raters_scaled <- cbind(truth + rnorm(12, 0, 5), truth + rnorm(12, 0, 5), 1.3 * truth + rnorm(12, 0, 5))

out <- list(source = paste("R", getRversion(), "psych", as.character(packageVersion("psych")),
                           "ICC(x, lmer = FALSE, alpha = 0.05)"),
            datasets = list())
for (name in names(datasets)) {
  x <- datasets[[name]]
  res <- ICC(x, lmer = FALSE, alpha = 0.05)$results
  row <- function(label) res[res$type == label, ]
  a <- row("ICC2"); c <- row("ICC3")
  out$datasets[[name]] <- list(
    ratings = unname(lapply(seq_len(nrow(x)), function(i) as.numeric(x[i, ]))),
    icc_a1 = a$ICC, icc_a1_ci_low = a$`lower bound`, icc_a1_ci_high = a$`upper bound`,
    icc_c1 = c$ICC, icc_c1_ci_low = c$`lower bound`, icc_c1_ci_high = c$`upper bound`
  )
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/icc_reference.json")
