"""ADaM derivations: pure functions from SDTM datasets to analysis datasets."""
