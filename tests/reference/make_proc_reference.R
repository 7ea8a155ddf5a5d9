# Reference values from R's pROC for tests/core/test_roc_stats.py.
#
# Run from the repository root:
#   Rscript tests/reference/make_proc_reference.R
# It (re)writes tests/reference/roc_data.csv (synthetic data, fixed seed) and
# tests/reference/proc_reference.json (pROC results on that data and on pROC's aSAH
# data set, which is stored in the JSON so the Python tests run without R).
#
# Conventions used throughout: labels 0/1, 1 = positive ("case"), and the direction is
# fixed with direction = "<" (higher score = positive), never chosen by pROC.

suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script_arg <- sub("^--file=", "", args[grep("^--file=", args)])
ref_dir <- if (length(script_arg) == 1) dirname(normalizePath(script_arg)) else "tests/reference"

BOOT_N_AUC <- 10000  # more than the 2000 we use, so pROC's own Monte Carlo error is small
BOOT_N_SE <- 10000
SEED <- 20261126
SPECIFICITIES <- seq(0, 1, 0.05)

# ---------------------------------------------------------------- synthetic data
set.seed(SEED)
make_set <- function(set_name, n_pos, n_neg) {
  label <- c(rep(1L, n_pos), rep(0L, n_neg))
  latent <- rnorm(n_pos + n_neg) + 1.0 * label
  # Rounded to one decimal so there are many ties, within and across classes.
  score1 <- round(latent, 1)
  # Correlated with score1 (same cases), a little weaker.
  score2 <- round(0.6 * latent + 0.8 * rnorm(n_pos + n_neg) + 0.4 * label, 2)
  # An ordinal 1..5 rating: heavy ties.
  score3 <- as.integer(cut(latent + rnorm(n_pos + n_neg, sd = 0.7), breaks = c(-Inf, -0.5, 0.3, 1, 1.8, Inf)))
  data.frame(set = set_name, label = label, score1 = score1, score2 = score2, score3 = score3)
}
own <- rbind(make_set("A", 60L, 69L), make_set("B", 40L, 50L))
own <- own[sample(nrow(own)), ]  # shuffle rows so order does not matter
write.csv(own, file.path(ref_dir, "roc_data.csv"), row.names = FALSE, quote = FALSE)
own <- read.csv(file.path(ref_dir, "roc_data.csv"))  # use exactly what Python reads

data(aSAH)
asah <- list(
  outcome_poor = as.integer(aSAH$outcome == "Poor"),
  s100b = aSAH$s100b,
  wfns = as.numeric(aSAH$wfns),
  ndka = aSAH$ndka,
  gender_female = as.integer(aSAH$gender == "Female")
)

# ---------------------------------------------------------------- helpers
make_roc <- function(y, s) roc(y, s, levels = c(0, 1), direction = "<", quiet = TRUE)

num <- function(x) as.numeric(x)

case_entry <- function(name, y, s, source, boot = TRUE, extra = list()) {
  r <- make_roc(y, s)
  entry <- list(name = name, source = source, n_pos = sum(y == 1), n_neg = sum(y == 0),
                auc = num(auc(r)))
  entry$ci_delong <- num(suppressWarnings(ci.auc(r, method = "delong", conf.level = 0.95)))
  entry$ci_delong_90 <- num(suppressWarnings(ci.auc(r, method = "delong", conf.level = 0.90)))
  if (boot) {
    set.seed(SEED)
    entry$ci_bootstrap <- num(suppressWarnings(ci.auc(r, method = "bootstrap", boot.n = BOOT_N_AUC,
                                                      boot.stratified = TRUE, conf.level = 0.95,
                                                      progress = "none")))
  }
  co <- coords(r, "all", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  entry$coords <- list(threshold = co$threshold, sensitivity = co$sensitivity, specificity = co$specificity)
  best <- coords(r, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"),
                 transpose = FALSE)
  # sensitivity read off the curve at given specificities (exact points and in between)
  sp_grid <- sort(unique(c(seq(0, 1, 0.01), (0:entry$n_neg) / entry$n_neg)))
  entry$se_at_sp <- list(specificity = sp_grid,
                         sensitivity = num(coords(r, sp_grid, input = "specificity", ret = "sensitivity",
                                                  transpose = FALSE)$sensitivity))
  entry$youden <- list(threshold = best$threshold, sensitivity = best$sensitivity, specificity = best$specificity)
  c(entry, extra)
}

paired_entry <- function(name, y, s1, s2, source) {
  r1 <- make_roc(y, s1)
  r2 <- make_roc(y, s2)
  t <- roc.test(r1, r2, method = "delong", paired = TRUE)
  list(name = name, source = source, auc1 = num(auc(r1)), auc2 = num(auc(r2)),
       z = num(t$statistic), p = num(t$p.value))
}

unpaired_entry <- function(name, y1, s1, y2, s2, source) {
  r1 <- make_roc(y1, s1)
  r2 <- make_roc(y2, s2)
  t <- roc.test(r1, r2, method = "delong", paired = FALSE)
  list(name = name, source = source, auc1 = num(auc(r1)), auc2 = num(auc(r2)),
       statistic = num(t$statistic), df = num(t$parameter), p = num(t$p.value))
}

ci_se_entry <- function(name, y, s, source) {
  r <- make_roc(y, s)
  set.seed(SEED)
  band <- ci.se(r, specificities = SPECIFICITIES, boot.n = BOOT_N_SE, boot.stratified = TRUE,
                conf.level = 0.95, progress = "none")
  list(name = name, source = source, specificities = SPECIFICITIES,
       lower = num(band[, 1]), median = num(band[, 2]), upper = num(band[, 3]))
}

threshold_entry <- function(name, y, s, threshold, source) {
  r <- make_roc(y, s)
  co <- coords(r, threshold, input = "threshold",
               ret = c("tp", "fp", "tn", "fn", "sensitivity", "specificity", "accuracy", "ppv", "npv"),
               transpose = FALSE)
  c(list(name = name, source = source, threshold = threshold), lapply(as.list(co), num))
}

wilson_entry <- function(k, n, level) {
  ci <- prop.test(k, n, conf.level = level, correct = FALSE)$conf.int
  list(k = k, n = n, level = level, lower = num(ci[1]), upper = num(ci[2]))
}

src_asah <- function(score, subset = NULL) list(data = "aSAH", score = score, subset = subset)
src_own <- function(score, set) list(data = "own", score = score, set = set)

A <- own[own$set == "A", ]
B <- own[own$set == "B", ]
male <- asah$gender_female == 0
female <- !male

# ---------------------------------------------------------------- single curves
cases <- list(
  case_entry("aSAH_s100b", asah$outcome_poor, asah$s100b, src_asah("s100b")),
  case_entry("aSAH_wfns", asah$outcome_poor, asah$wfns, src_asah("wfns")),
  case_entry("aSAH_ndka", asah$outcome_poor, asah$ndka, src_asah("ndka")),
  case_entry("own_A_score1", A$label, A$score1, src_own("score1", "A")),
  case_entry("own_A_score2", A$label, A$score2, src_own("score2", "A")),
  case_entry("own_A_score3", A$label, A$score3, src_own("score3", "A")),
  case_entry("own_B_score1", B$label, B$score1, src_own("score1", "B"))
)

# Edge cases: the vectors are stored in the entry itself.
explicit <- function(name, y, s, boot = TRUE) {
  e <- case_entry(name, y, s, list(data = "explicit"), boot = boot)
  e$y <- y
  e$s <- s
  e
}
y_small <- c(1, 1, 1, 0, 0, 0, 0)
edge <- list(
  explicit("constant_score", A$label, rep(0.7, nrow(A))),
  explicit("perfect_separation", A$label, ifelse(A$label == 1, 2, 0) + A$score1 / 100),
  explicit("reversed_score", A$label, -A$score1),
  explicit("small_ties", y_small, c(0.5, 0.5, 0.9, 0.5, 0.1, 0.5, 0.2)),
  explicit("single_positive", c(1, 0, 0, 0, 0), c(0.4, 0.1, 0.4, 0.9, 0.3), boot = FALSE)
)
cases <- c(cases, edge)

# ---------------------------------------------------------------- tests
perfect <- ifelse(A$label == 1, 2, 0) + A$score1 / 100
perfect2 <- ifelse(A$label == 1, 5, 1) + A$score2 / 100
paired <- list(
  paired_entry("aSAH_s100b_vs_wfns", asah$outcome_poor, asah$s100b, asah$wfns, list(data = "aSAH", score1 = "s100b", score2 = "wfns")),
  paired_entry("aSAH_s100b_vs_ndka", asah$outcome_poor, asah$s100b, asah$ndka, list(data = "aSAH", score1 = "s100b", score2 = "ndka")),
  paired_entry("aSAH_wfns_vs_ndka", asah$outcome_poor, asah$wfns, asah$ndka, list(data = "aSAH", score1 = "wfns", score2 = "ndka")),
  paired_entry("own_A_score1_vs_score2", A$label, A$score1, A$score2, list(data = "own", set = "A", score1 = "score1", score2 = "score2")),
  paired_entry("own_A_score1_vs_score3", A$label, A$score1, A$score3, list(data = "own", set = "A", score1 = "score1", score2 = "score3")),
  c(paired_entry("perfect_vs_perfect", A$label, perfect, perfect2, list(data = "explicit")),
    list(y = A$label, s1 = perfect, s2 = perfect2)),
  c(paired_entry("perfect_vs_score1", A$label, perfect, A$score1, list(data = "explicit")),
    list(y = A$label, s1 = perfect, s2 = A$score1))
)

unpaired <- list(
  unpaired_entry("own_score1_A_vs_B", A$label, A$score1, B$label, B$score1,
                 list(data = "own", score = "score1", set1 = "A", set2 = "B")),
  unpaired_entry("own_score2_A_vs_B", A$label, A$score2, B$label, B$score2,
                 list(data = "own", score = "score2", set1 = "A", set2 = "B")),
  unpaired_entry("aSAH_s100b_male_vs_female", asah$outcome_poor[male], asah$s100b[male],
                 asah$outcome_poor[female], asah$s100b[female],
                 list(data = "aSAH", score = "s100b", subset1 = "male", subset2 = "female"))
)

ci_se <- list(
  ci_se_entry("aSAH_s100b", asah$outcome_poor, asah$s100b, src_asah("s100b")),
  ci_se_entry("own_A_score1", A$label, A$score1, src_own("score1", "A"))
)

# Youden threshold chosen on set A (first of pROC's best rows), applied unchanged to set B
youden_A <- coords(make_roc(A$label, A$score1), "best", best.method = "youden", ret = "threshold",
                   transpose = FALSE)$threshold[1]
thresholds <- list(
  threshold_entry("own_B_score1_at_A_youden", B$label, B$score1, youden_A, src_own("score1", "B")),
  threshold_entry("aSAH_s100b_0.205", asah$outcome_poor, asah$s100b, 0.205, src_asah("s100b")),
  threshold_entry("aSAH_s100b_0.13", asah$outcome_poor, asah$s100b, 0.13, src_asah("s100b")),
  threshold_entry("own_B_score1_0.55", B$label, B$score1, 0.55, src_own("score1", "B")),
  threshold_entry("own_B_score1_0.5", B$label, B$score1, 0.5, src_own("score1", "B"))
)

wilson <- list(wilson_entry(30, 41, 0.95), wilson_entry(0, 12, 0.95), wilson_entry(12, 12, 0.95),
               wilson_entry(5, 9, 0.90), wilson_entry(57, 72, 0.99))

out <- list(
  generated_by = "tests/reference/make_proc_reference.R",
  pROC_version = as.character(packageVersion("pROC")),
  R_version = paste(R.version$major, R.version$minor, sep = "."),
  seed = SEED,
  boot_n_auc = BOOT_N_AUC,
  boot_n_se = BOOT_N_SE,
  conventions = "labels 0/1 (1 = positive); roc(levels = c(0, 1), direction = '<'); bootstrap stratified, percentile (R quantile type 7)",
  aSAH = asah,
  own_data_file = "roc_data.csv",
  cases = cases,
  paired = paired,
  unpaired = unpaired,
  ci_se = ci_se,
  thresholds = thresholds,
  wilson = wilson
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "string", pretty = TRUE),
           file.path(ref_dir, "proc_reference.json"))
message("wrote ", file.path(ref_dir, "proc_reference.json"))
