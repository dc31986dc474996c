"""Where alerts go: a JSON-lines file locally, Cloud Logging (→ log-based metric → alert policy) on gcp.

An adapter package; the Airflow notifier that raises alerts is
:class:`fraud_mlops.orchestration.alerts.FraudAlertNotifier`.
"""
