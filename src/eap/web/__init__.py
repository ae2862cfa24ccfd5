"""The study-operations web application: ``create_app(db_url)``."""
