# Independent reference values for the CDISC pilot study (CDISCPILOT01).
#
# Reads the pilot's own ADaM datasets (../adam/adsl.xpt, adae.xpt, adtte.xpt)
# with foreign::read.xport and writes pilot_reference.csv: one statistic per
# row, in the long shape of the pharmaverse `cards` package.
#
# Only base R, foreign and survival are used. Run from this folder:
#
#     Rscript pilot_reference.R
#
# See README.md for what every output, variable and stat_name means.

suppressPackageStartupMessages({
  library(foreign)
  library(survival)
})

adam_dir <- file.path("..", "adam")
out_file <- "pilot_reference.csv"

ARMS <- c("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")

read_adam <- function(name) {
  d <- read.xport(file.path(adam_dir, paste0(name, ".xpt")))
  # XPT character fields are blank-padded; compare trimmed strings throughout.
  for (v in names(d)) if (is.character(d[[v]])) d[[v]] <- trimws(d[[v]])
  d
}

adsl  <- read_adam("adsl")
adae  <- read_adam("adae")
adtte <- read_adam("adtte")

# ---------------------------------------------------------------------------
# Checks on the inputs (the script stops if any assumption does not hold)
# ---------------------------------------------------------------------------
stopifnot(
  !anyDuplicated(adsl$USUBJID),
  setequal(unique(adsl$TRT01P), ARMS),
  setequal(unique(adsl$TRT01A), ARMS),
  all(adae$USUBJID %in% adsl$USUBJID),
  all(adae$TRTA %in% ARMS),
  all(adtte$TRTA %in% ARMS)
)
# ADAE's actual arm (TRTA) equals ADSL's actual arm (TRT01A) for every subject.
trta_check <- merge(unique(adae[, c("USUBJID", "TRTA")]),
                    adsl[, c("USUBJID", "TRT01A")], by = "USUBJID")
stopifnot(!anyDuplicated(trta_check$USUBJID),
          nrow(trta_check) == length(unique(adae$USUBJID)),
          all(trta_check$TRTA == trta_check$TRT01A))
# The same for ADTTE.
tte_check <- merge(adtte[adtte$PARAMCD == "TTDE", c("USUBJID", "TRTA")],
                   adsl[, c("USUBJID", "TRT01A")], by = "USUBJID")
stopifnot(all(tte_check$TRTA == tte_check$TRT01A))

# ---------------------------------------------------------------------------
# Row builder
# ---------------------------------------------------------------------------
rows <- list()
add <- function(output, group1 = "", group1_level = "", group2 = "",
                group2_level = "", variable, variable_level = "",
                stat_name, stat) {
  stopifnot(length(stat_name) == length(stat))
  rows[[length(rows) + 1L]] <<- data.frame(
    output = output, group1 = group1, group1_level = group1_level,
    group2 = group2, group2_level = group2_level, variable = variable,
    variable_level = variable_level, stat_name = stat_name,
    stat = as.numeric(stat), stringsAsFactors = FALSE)
}

# Columns of a table: the three arms in order, then Total (group1 empty).
columns <- function(arm_var) {
  c(lapply(ARMS, function(a) list(group1 = arm_var, level = a)),
    list(list(group1 = "", level = "")))
}
in_column <- function(arm, col) if (col$group1 == "") rep(TRUE, length(arm)) else arm == col$level

# ---------------------------------------------------------------------------
# T14-2.01  Demographics and baseline characteristics (ITT)
# ---------------------------------------------------------------------------
out <- "T14-2.01"
itt <- adsl[adsl$ITTFL == "Y", ]
cols <- columns("TRT01P")

for (col in cols) {
  add(out, col$group1, col$level, variable = "BIGN", stat_name = "N",
      stat = sum(in_column(itt$TRT01P, col)))
}

for (v in c("AGE", "HEIGHTBL", "WEIGHTBL", "BMIBL", "MMSETOT")) {
  for (col in cols) {
    x <- itt[[v]][in_column(itt$TRT01P, col)]
    x <- x[!is.na(x)]
    q <- quantile(x, c(0.25, 0.75), type = 7, names = FALSE)
    add(out, col$group1, col$level, variable = v,
        stat_name = c("n", "mean", "sd", "median", "p25", "p75", "min", "max"),
        stat = c(length(x), mean(x), sd(x), median(x), q[1], q[2], min(x), max(x)))
  }
}

# Level order: by the companion numeric code where ADSL has one (AGEGR1N,
# RACEN), otherwise alphabetical (C collation).
level_order <- function(d, v) {
  lv <- unique(d[[v]][!is.na(d[[v]]) & d[[v]] != ""])
  code <- paste0(v, "N")
  if (code %in% names(d)) {
    codes <- sapply(lv, function(l) unique(d[[code]][d[[v]] == l]))
    stopifnot(is.numeric(codes), !anyDuplicated(codes))
    lv[order(codes)]
  } else {
    sort(lv, method = "radix")
  }
}

for (v in c("AGEGR1", "SEX", "RACE", "ETHNIC")) {
  lv <- level_order(itt, v)
  for (col in cols) {
    x <- itt[[v]][in_column(itt$TRT01P, col)]
    x <- x[!is.na(x) & x != ""]
    N <- length(x)
    for (l in lv) {
      n <- sum(x == l)
      add(out, col$group1, col$level, variable = v, variable_level = l,
          stat_name = c("n", "N", "p"), stat = c(n, N, n / N))
    }
  }
}

# ---------------------------------------------------------------------------
# T14-3.01-TEAE / T14-3.01-SER  Treatment-emergent AEs by SOC and PT
# ---------------------------------------------------------------------------
saf <- adsl[adsl$SAFFL == "Y", ]
saf_ids <- saf$USUBJID

ae_table <- function(out, events) {
  cols <- columns("TRTA")
  bign <- lapply(cols, function(col) sum(in_column(saf$TRT01A, col)))

  counts <- function(ev, col, N) {
    e <- ev[in_column(ev$TRTA, col), , drop = FALSE]
    n <- length(unique(e$USUBJID))
    list(stat_name = c("n", "N", "p", "events"),
         stat = c(n, N, n / N, nrow(e)))
  }

  for (i in seq_along(cols)) {
    s <- counts(events, cols[[i]], bign[[i]])
    add(out, cols[[i]]$group1, cols[[i]]$level, variable = "ANY",
        stat_name = s$stat_name, stat = s$stat)
  }

  socs <- sort(unique(events$AEBODSYS), method = "radix")
  for (soc in socs) {
    ev_soc <- events[events$AEBODSYS == soc, ]
    for (i in seq_along(cols)) {
      s <- counts(ev_soc, cols[[i]], bign[[i]])
      add(out, cols[[i]]$group1, cols[[i]]$level, variable = "AEBODSYS",
          variable_level = soc, stat_name = s$stat_name, stat = s$stat)
    }
    for (pt in sort(unique(ev_soc$AEDECOD), method = "radix")) {
      ev_pt <- ev_soc[ev_soc$AEDECOD == pt, ]
      for (i in seq_along(cols)) {
        s <- counts(ev_pt, cols[[i]], bign[[i]])
        add(out, cols[[i]]$group1, cols[[i]]$level,
            group2 = "AEBODSYS", group2_level = soc,
            variable = "AEDECOD", variable_level = pt,
            stat_name = s$stat_name, stat = s$stat)
      }
    }
  }
}

teae <- adae[adae$SAFFL == "Y" & adae$TRTEMFL == "Y" & adae$USUBJID %in% saf_ids, ]
stopifnot(!any(is.na(teae$AEBODSYS) | teae$AEBODSYS == ""),
          !any(is.na(teae$AEDECOD) | teae$AEDECOD == ""))
ae_table("T14-3.01-TEAE", teae)
ae_table("T14-3.01-SER", teae[teae$AESER == "Y", ])

# ---------------------------------------------------------------------------
# F14-1  Time to first dermatologic event (safety population)
# ---------------------------------------------------------------------------
out <- "F14-1"
tte <- adtte[adtte$PARAMCD == "TTDE" & adtte$SAFFL == "Y", ]
stopifnot(!anyDuplicated(tte$USUBJID), !any(is.na(tte$AVAL)),
          all(tte$CNSR %in% c(0, 1)))
tte$TRTA <- factor(tte$TRTA, levels = ARMS)
tte$EVENT <- 1 - tte$CNSR
strata_arm <- function(s) sub("^TRTA=", "", s)

for (a in ARMS) {
  e <- tte$EVENT[tte$TRTA == a]
  add(out, "TRTA", a, variable = "time_to_event",
      stat_name = c("n", "events", "censored"),
      stat = c(length(e), sum(e == 1), sum(e == 0)))
}

fit <- survfit(Surv(AVAL, EVENT) ~ TRTA, data = tte, conf.type = "log-log")

probs <- c(0.25, 0.5, 0.75)
qf <- quantile(fit, probs = probs)
for (a in ARMS) {
  r <- paste0("TRTA=", a)
  for (j in seq_along(probs)) {
    add(out, "TRTA", a, variable = "prob", variable_level = format(probs[j]),
        stat_name = c("estimate", "conf.low", "conf.high"),
        stat = c(qf$quantile[r, j], qf$lower[r, j], qf$upper[r, j]))
  }
}

times <- c(30, 60, 90, 120, 150, 180)
sf <- summary(fit, times = times, extend = TRUE)
for (k in seq_along(sf$time)) {
  add(out, "TRTA", strata_arm(as.character(sf$strata[k])),
      variable = "time", variable_level = format(sf$time[k]),
      stat_name = c("estimate", "std.error", "conf.low", "conf.high", "n.risk"),
      stat = c(sf$surv[k], sf$std.err[k], sf$lower[k], sf$upper[k], sf$n.risk[k]))
}
stopifnot(length(sf$time) == length(ARMS) * length(times))

logrank <- function(d) {
  sd <- survdiff(Surv(AVAL, EVENT) ~ TRTA, data = d)
  df <- sum(sd$exp > 0) - 1   # as print.survdiff
  p <- pchisq(sd$chisq, df, lower.tail = FALSE)
  if (!is.null(sd$pvalue)) stopifnot(isTRUE(all.equal(p, sd$pvalue)))
  c(sd$chisq, df, p)
}
add(out, variable = "logrank", stat_name = c("statistic", "df", "p.value"),
    stat = logrank(tte))
for (a in ARMS[-1]) {
  d <- tte[tte$TRTA %in% c("Placebo", a), ]
  d$TRTA <- droplevels(d$TRTA)
  add(out, "TRTA", a, variable = "logrank_vs_Placebo",
      stat_name = c("statistic", "df", "p.value"), stat = logrank(d))
}

for (ties in c("efron", "breslow")) {
  cf <- coxph(Surv(AVAL, EVENT) ~ TRTA, data = tte, ties = ties)
  s <- summary(cf, conf.int = 0.95)
  for (a in ARMS[-1]) {
    term <- paste0("TRTA", a)
    add(out, "TRTA", a, variable = paste0("cox_", ties),
        stat_name = c("estimate", "conf.low", "conf.high", "p.value"),
        stat = c(s$conf.int[term, "exp(coef)"], s$conf.int[term, "lower .95"],
                 s$conf.int[term, "upper .95"], s$coefficients[term, "Pr(>|z|)"]))
  }
}

# ---------------------------------------------------------------------------
# Write: minimal CSV quoting, stat with 17 significant digits, NA empty
# ---------------------------------------------------------------------------
res <- do.call(rbind, rows)
stopifnot(!anyDuplicated(res[, setdiff(names(res), "stat")]))

csv_field <- function(x) {
  x[is.na(x)] <- ""
  q <- grepl("[\",\r\n]", x)
  x[q] <- paste0("\"", gsub("\"", "\"\"", x[q]), "\"")
  x
}
stat_txt <- ifelse(is.na(res$stat), "", sprintf("%.17g", res$stat))
text_cols <- setdiff(names(res), "stat")
body <- do.call(paste, c(lapply(res[text_cols], csv_field),
                         list(stat_txt), sep = ","))
con <- file(out_file, open = "wb")
writeLines(c(paste(names(res), collapse = ","), body), con, sep = "\n")
close(con)

cat(sprintf("%s: %d rows\n", out_file, nrow(res)))
print(table(output = res$output))
cat(R.version.string, "; survival", format(packageVersion("survival")),
    "; foreign", format(packageVersion("foreign")), "\n")
