"""Failure reports: ingestion from devices, queries, the CSV error report, retention."""
