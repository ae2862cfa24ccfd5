# Reference values for tests/stats/test_logrank.py: R survival's survdiff on
# mm024_pfs_os.csv (PFS and OS of the virtual MM-024 cohort, eap simulate
# --seed 2014 then eap derive; AVAL in months, CNSR 1 = censored) and on a small
# data set where one group is never at risk at an event time.
# Run from this folder:  Rscript mm024_logrank.R > mm024_logrank.out
library(survival)
options(digits = 17)

show <- function(name, fit) {
  otmp <- if (is.matrix(fit$obs)) rowSums(fit$obs) else fit$obs
  etmp <- if (is.matrix(fit$exp)) rowSums(fit$exp) else fit$exp
  df <- sum(etmp > 0) - 1
  cat(sprintf("%s chisq %.17g\n", name, fit$chisq))
  cat(sprintf("%s df %d\n", name, df))
  cat(sprintf("%s p %.17g\n", name, pchisq(fit$chisq, df, lower.tail = FALSE)))
  cat(sprintf("%s observed %s\n", name, paste(otmp, collapse = " ")))
  cat(sprintf("%s expected %s\n", name, paste(sprintf("%.17g", etmp), collapse = " ")))
}

d <- read.csv("mm024_pfs_os.csv")
d$site <- substr(d$USUBJID, 7, 8)
cat("# R", R.version$major, ".", R.version$minor, ", survival ",
    as.character(packageVersion("survival")), "\n", sep = "")
fit <- survdiff(Surv(AVAL, 1 - CNSR) ~ PARAMCD, data = d)
print(fit)
show("pfs_os", fit)
fit <- survdiff(Surv(AVAL, 1 - CNSR) ~ PARAMCD + strata(site), data = d)
print(fit)
show("pfs_os_by_site", fit)

# Group C is censored before the first event: expected 0, so df = 3 - 1 - 1 = 1.
small <- data.frame(
  time  = c(5, 8, 12, 20, 9, 14, 15, 30, 1, 2, 3),
  event = c(1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0),
  group = c("A", "A", "A", "A", "B", "B", "B", "B", "C", "C", "C")
)
fit <- survdiff(Surv(time, event) ~ group, data = small)
print(fit)
show("small_expected_zero", fit)
