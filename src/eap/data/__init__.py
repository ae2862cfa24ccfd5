"""Data shipped with eap: CTCAE v4.03 terms, MedDRA SOC order, CDISC pilot datasets."""
