"""The MM-024 report: comparisons with the publication (tables and figures to come)."""
