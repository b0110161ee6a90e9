-- A re-run of (model_version, issue_date) replaces its rows: delete them first, in the writing transaction.
DELETE FROM gold.fact_ml_predictions WHERE model_version = %(model_version)s AND issue_date = %(issue_date)s
