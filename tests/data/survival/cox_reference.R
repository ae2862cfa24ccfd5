# Reference values for tests/stats/test_cox.py, from R survival::coxph.
#
# Run from the repository root:
#     Rscript tests/data/survival/cox_reference.R
# It writes tests/data/survival/cox_reference.json (and aml.csv and
# lung_ecog.csv when they are missing). The test suite reads only the JSON,
# so R is not needed to run the tests. Every number is written with 17
# significant digits; JSON is written by hand because jsonlite is not a
# dependency of survival.
#
# The models are fitted to the CSV files the tests read, after checking that
# those files hold the same values as the data sets shipped with survival.

suppressPackageStartupMessages(library(survival))
# factor() sorts levels in the collation order of the locale; eap sorts by
# code point, which is the C locale's order.
invisible(Sys.setlocale("LC_COLLATE", "C"))

here <- file.path("tests", "data", "survival")
if (!dir.exists(here)) stop("run from the repository root")

# ------------------------------------------------------------------ data

aml_csv <- file.path(here, "aml.csv")
if (!file.exists(aml_csv)) {
  write.csv(data.frame(time = aml$time, status = aml$status, x = as.character(aml$x)),
            aml_csv, row.names = FALSE, quote = FALSE)
}
aml_d <- read.csv(aml_csv, stringsAsFactors = FALSE)
stopifnot(identical(as.numeric(aml_d$time), as.numeric(aml$time)),
          identical(as.numeric(aml_d$status), as.numeric(aml$status)),
          identical(aml_d$x, as.character(aml$x)))

# lung.csv holds time, status (0 censored, 1 dead: R's status - 1) and sex;
# lung_ecog.csv adds ph.ecog (one missing value, written as an empty field).
lung_d <- read.csv(file.path(here, "lung.csv"))
stopifnot(identical(as.numeric(lung_d$time), as.numeric(lung$time)),
          identical(as.numeric(lung_d$status), as.numeric(lung$status - 1)),
          identical(as.numeric(lung_d$sex), as.numeric(lung$sex)))
ecog_csv <- file.path(here, "lung_ecog.csv")
if (!file.exists(ecog_csv)) {
  write.csv(data.frame(time = lung$time, status = lung$status - 1, sex = lung$sex,
                       ph.ecog = lung$ph.ecog),
            ecog_csv, row.names = FALSE, quote = FALSE, na = "")
}
ecog_d <- read.csv(ecog_csv)
stopifnot(identical(as.numeric(ecog_d$time), as.numeric(lung$time)),
          identical(as.numeric(ecog_d$status), as.numeric(lung$status - 1)),
          identical(as.numeric(ecog_d$sex), as.numeric(lung$sex)),
          identical(as.numeric(ecog_d$ph.ecog), as.numeric(lung$ph.ecog)))
ecog_d <- ecog_d[!is.na(ecog_d$ph.ecog), ]

vet_d <- read.csv(file.path(here, "veteran.csv"), stringsAsFactors = FALSE)
stopifnot(identical(as.numeric(vet_d$time), as.numeric(veteran$time)),
          identical(as.numeric(vet_d$status), as.numeric(veteran$status)),
          identical(as.numeric(vet_d$trt), as.numeric(veteran$trt)),
          identical(vet_d$celltype, as.character(veteran$celltype)))
# factor() of the character column sorts the levels (adeno, large, smallcell,
# squamous), as eap does; survival::veteran's own factor starts at squamous.
vet_d$cell <- factor(vet_d$celltype)
vet_d$cell_sq <- relevel(vet_d$cell, ref = "squamous")

# A level without events: its coefficient goes to -infinity. aml plus five
# untreated subjects, all censored: R warns "Loglik converged before variable
# 2; coefficient may be infinite".
untreated_d <- data.frame(
  time = c(aml_d$time, 10, 20, 30, 40, 50),
  status = c(aml_d$status, 0, 0, 0, 0, 0),
  group = c(aml_d$x, rep("Untreated", 5))
)
# Ten subjects, no events in b: the log-likelihood keeps creeping up until
# the 20 iterations are used; R warns "Ran out of iterations and did not converge".
creep_d <- data.frame(
  time = 1:10,
  status = c(1, 0, 1, 1, 0, 1, 0, 1, 0, 0),
  group = c("a", "b", "a", "a", "b", "a", "b", "a", "b", "b")
)

# Seventeen deaths; the first Newton steps overshoot and the fit steps back
# twice in a row (half way, then 2/3 of the way back to the last accepted
# beta): the iteration count shows the rule (Efron: 8; plain halving gives 7).
halving_d <- data.frame(
  time = c(25, 18, 4, 4, 19, 13, 8, 11, 28, 25, 11, 26, 23, 8, 26, 3, 27),
  status = 1,
  group = strsplit("aaccbaabbabaaaabb", "")[[1]]
)

# ------------------------------------------------------------------ models

models <- list(
  list(name = "aml_x", data = "aml", formula = Surv(time, status) ~ x, df = aml_d,
       group = "x", strata = NULL, reference = "Maintained"),
  list(name = "lung_sex", data = "lung", formula = Surv(time, status) ~ factor(sex),
       df = lung_d, group = "sex", strata = NULL, reference = "1"),
  list(name = "lung_ecog", data = "lung_ecog",
       formula = Surv(time, status) ~ factor(ph.ecog), df = ecog_d,
       group = "ph.ecog", strata = NULL, reference = "0"),
  list(name = "lung_ecog_strata_sex", data = "lung_ecog",
       formula = Surv(time, status) ~ factor(ph.ecog) + strata(sex), df = ecog_d,
       group = "ph.ecog", strata = "sex", reference = "0"),
  list(name = "veteran_trt", data = "veteran", formula = Surv(time, status) ~ factor(trt),
       df = vet_d, group = "trt", strata = NULL, reference = "1"),
  list(name = "veteran_celltype", data = "veteran", formula = Surv(time, status) ~ cell,
       df = vet_d, group = "celltype", strata = NULL, reference = "adeno"),
  list(name = "veteran_celltype_ref_squamous", data = "veteran",
       formula = Surv(time, status) ~ cell_sq, df = vet_d, group = "celltype",
       strata = NULL, reference = "squamous"),
  list(name = "veteran_trt_strata_celltype", data = "veteran",
       formula = Surv(time, status) ~ factor(trt) + strata(cell), df = vet_d,
       group = "trt", strata = "celltype", reference = "1"),
  list(name = "steps_back_twice", data = "halving", formula = Surv(time, status) ~ group,
       df = halving_d, group = "group", strata = NULL, reference = "a"),
  list(name = "aml_untreated_no_events", data = "aml_untreated",
       formula = Surv(time, status) ~ group, df = untreated_d, group = "group",
       strata = NULL, reference = "Maintained"),
  list(name = "creep_no_events_in_b", data = "creep", formula = Surv(time, status) ~ group,
       df = creep_d, group = "group", strata = NULL, reference = "a")
)

num <- function(x) {
  if (is.null(x) || length(x) == 0 || is.na(x) || !is.finite(x)) "null"
  else sprintf("%.17g", x)
}
str_json <- function(x) if (is.null(x)) "null" else sprintf("\"%s\"", gsub("\"", "\\\\\"", x))
test_json <- function(v) sprintf("{\"statistic\": %s, \"df\": %s, \"p_value\": %s}",
                                 num(v[["test"]]), num(v[["df"]]), num(v[["pvalue"]]))

fit_one <- function(m, ties) {
  warn <- NULL
  fit <- withCallingHandlers(
    coxph(m$formula, data = m$df, ties = ties),
    warning = function(w) {
      warn <<- conditionMessage(w)
      invokeRestart("muffleWarning")
    }
  )
  s <- summary(fit, conf.int = 0.95)
  # summary() rounds the Wald statistic to 2 decimals (its p-value is not
  # rounded); take the statistic from the fit.
  wald <- s$waldtest
  wald[["test"]] <- as.vector(fit$wald.test)
  cf <- s$coefficients
  ci <- s$conf.int
  # The non-reference levels in R's factor order: the coefficient names are
  # the variable name followed by the level.
  lev <- fit$xlevels[[1]]
  lev <- lev[lev != m$reference]
  stopifnot(length(lev) == nrow(cf))
  terms <- vapply(seq_len(nrow(cf)), function(i) {
    sprintf(paste0("{\"level\": %s, \"coef\": %s, \"se\": %s, \"hazard_ratio\": %s, ",
                   "\"conf_low\": %s, \"conf_high\": %s, \"z\": %s, \"p_value\": %s}"),
            str_json(lev[i]), num(cf[i, "coef"]), num(cf[i, "se(coef)"]),
            num(cf[i, "exp(coef)"]), num(ci[i, "lower .95"]), num(ci[i, "upper .95"]),
            num(cf[i, "z"]), num(cf[i, "Pr(>|z|)"]))
  }, "")
  paste0(
    "  {",
    sprintf("\"name\": %s, \"data\": %s, \"call\": %s, ", str_json(m$name), str_json(m$data),
            str_json(paste0("coxph(", deparse(m$formula), ", ties = '", ties, "')"))),
    sprintf("\"group\": %s, \"strata\": %s, \"reference\": %s, \"ties\": %s,\n   ",
            str_json(m$group), str_json(m$strata), str_json(m$reference), str_json(ties)),
    sprintf("\"n\": %d, \"events\": %d, \"loglik_null\": %s, \"loglik\": %s, \"iterations\": %d,\n   ",
            fit$n, fit$nevent, num(fit$loglik[1]), num(fit$loglik[2]), fit$iter),
    sprintf("\"likelihood_ratio\": %s,\n   \"wald\": %s,\n   \"score\": %s,\n   ",
            test_json(s$logtest), test_json(wald), test_json(s$sctest)),
    sprintf("\"warning\": %s,\n   \"terms\": [\n    %s\n   ]}",
            str_json(warn), paste(terms, collapse = ",\n    "))
  )
}

out <- unlist(lapply(models, function(m) vapply(c("efron", "breslow"),
                                                function(t) fit_one(m, t), "")))
header <- sprintf(
  "{\"generated_by\": \"tests/data/survival/cox_reference.R\", \"r_version\": %s, \"survival_version\": %s,\n \"models\": [\n",
  str_json(R.version.string), str_json(as.character(packageVersion("survival"))))
writeLines(paste0(header, paste(out, collapse = ",\n"), "\n]}"),
           file.path(here, "cox_reference.json"))
cat("wrote", length(out), "fits to", file.path(here, "cox_reference.json"), "\n")
