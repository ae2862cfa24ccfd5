"""The virtual MM-024 cohort."""
