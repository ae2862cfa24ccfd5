"""CDISC datasets: specifications, readers and writers, validation."""
