# Reference values for the landmark tests in tests/stats/test_km.py: R survival's
# summary.survfit(times, extend = TRUE) on mm024_pfs_os.csv (PFS and OS of the
# virtual MM-024 cohort; AVAL in months, CNSR 1 = censored), log-log limits, at
# 12 months, exactly at each curve's last observed time, just after it (+1e-9)
# and at 365. Without extend = TRUE, R leaves out the times after the last one.
# Run from this folder:  Rscript mm024_landmarks.R > mm024_landmarks.out
library(survival)
d <- read.csv("mm024_pfs_os.csv")
cat("# R", R.version$major, ".", R.version$minor, ", survival ",
    as.character(packageVersion("survival")), "\n", sep = "")
cat("PARAMCD time n.risk surv std.err lower upper\n")
for (p in c("OS", "PFS")) {
  x <- d[d$PARAMCD == p, ]
  last <- max(x$AVAL)
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ 1, data = x, conf.type = "log-log")
  times <- c(12, last, last + 1e-9, 365)
  s <- summary(fit, times = times, extend = TRUE)
  for (i in seq_along(times)) {
    cat(p, sprintf("%.17g", times[i]), s$n.risk[i],
        sprintf("%.17g", c(s$surv[i], s$std.err[i], s$lower[i], s$upper[i])), "\n")
  }
  cat("# without extend:", p, "times", paste(summary(fit, times = times)$time, collapse = " "), "\n")
}
