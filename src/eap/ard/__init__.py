"""Analysis results data (ARD): every number a report shows, first as a row.

A row names the analysis (a stable output id such as DMT01), the population, the
treatment group, the variable and its level, the statistic and its value, and the USUBJIDs behind a
count. Renderers and ``eap reproduce`` read these rows; they never compute.

==========  ================================================================
column      meaning
==========  ================================================================
ANALYSIS    output id: DMT01 baseline, EXT01 exposure, DST01 disposition,
            DTHT01 deaths, AET01 any AE, AET02 TEAEs by term, AET04 grade 3-4,
            AET09 serious, AET05 leading to modification, AET10 SPMs,
            AET10L the SPM listing, AET11 cumulative toxicity, CMT01
            medications, TTET01 time to event, FUT01 follow-up, KMG01 curves,
            SWMG01 swimmer rows
POPULATION  safety or treatment_cohort
GROUP       the treatment group: Rd for every row (MM-024 is single-arm)
VARIABLE    the ADaM variable or parameter analysed
LEVEL       the category, term or parameter level (null for the whole)
STAT        n, N, pct, median, mean, min, max, lower, upper, events, censored, ...
            (AET10L: the record key USUBJID/AESEQ; text values then in LEVEL)
VALUE       the number (percentages unrounded; rounding is the renderer's)
SUBJECTS    USUBJIDs counted (for n), empty otherwise
==========  ================================================================
"""

from eap.ard.build import ARD_SCHEMA, GROUP, build_ard

__all__ = ["ARD_SCHEMA", "GROUP", "build_ard"]
