# Reference values for tests/core/test_subgroups.py, from base R and pROC.
# Run from the repository root:  Rscript tests/reference/make_subgroup_reference.R
# Writes tests/reference/subgroup_reference.json:
#  - lesions: volumes (ml) and detected flags; tertile edges (quantile type 7), per tertile
#    counts and prop.test(correct = FALSE) Wilson 95% interval (a lesion at an edge goes to
#    the lower tertile: cut(..., right = TRUE)).
#  - cases: label, center, sex, score; per (grouping, subgroup) pROC auc and
#    ci.auc(method = "delong") where both classes are present.
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})
set.seed(20240603)
n_les <- 61
volume <- round(rlnorm(n_les, log(0.3), 1), 3)
volume[5] <- volume[7]  # a tie
detected <- rbinom(n_les, 1, plogis(1.5 * (log(volume) - log(0.2))))
edges <- quantile(volume, c(1 / 3, 2 / 3), type = 7, names = FALSE)
tertile <- cut(volume, c(-Inf, edges, Inf), labels = c("small", "medium", "large"), right = TRUE)
tertiles <- list()
for (t in levels(tertile)) {
  k <- sum(detected[tertile == t]); n <- sum(tertile == t)
  ci <- prop.test(k, n, correct = FALSE)$conf.int
  tertiles[[t]] <- list(n_lesions = n, n_detected = k, ci = as.numeric(ci))
}
n <- 80
label <- rbinom(n, 1, 0.45)
center <- sample(c("c1", "c2"), n, replace = TRUE)
sex <- sample(c("F", "M"), n, replace = TRUE)
score <- round(label * 0.9 + (center == "c2") * 0.3 + rnorm(n), 2)
aucs <- list()
for (grouping in c("center", "sex")) {
  g <- get(grouping)
  for (value in sort(unique(g))) {
    keep <- g == value
    r <- roc(label[keep], score[keep], levels = c(0, 1), direction = "<", quiet = TRUE)
    ci <- ci.auc(r, method = "delong")
    aucs[[length(aucs) + 1]] <- list(grouping = grouping, subgroup = value, auc = as.numeric(auc(r)),
                                     ci = c(ci[1], ci[3]))
  }
}
out <- list(source = paste("R", getRversion(), "pROC", as.character(packageVersion("pROC")),
                           "quantile(type = 7), prop.test(correct = FALSE), ci.auc(method = 'delong')"),
            lesions = list(volume_ml = volume, detected = detected, edges = edges, tertiles = tertiles),
            cases = list(label = label, center = center, sex = sex, score = score, aucs = aucs))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/reference/subgroup_reference.json")
