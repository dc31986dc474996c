"""Card-fraud MLOps on Cloud Composer: the project's importable code.

Composer puts ``plugins/`` on ``sys.path``; so does the local stack and the test suite.
Business logic (features, training, evaluation, gates) lives here once; the two targets
differ only in the thin adapters under :mod:`fraud_mlops.targets`-style modules.
"""
