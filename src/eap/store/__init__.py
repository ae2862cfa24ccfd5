"""The study database: models, audit trail, edit checks, services and export to SDTM."""
