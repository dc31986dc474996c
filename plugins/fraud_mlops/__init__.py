"""Card-fraud MLOps on Cloud Composer: the project's importable code.

Composer puts ``plugins/`` on ``sys.path``; so does the local stack and the test suite.
Business logic (features, training, evaluation, gates) lives here once; the two targets
differ only in the adapters that :mod:`fraud_mlops.targets` picks (docs/architecture.md).
The local harness (stack, demo, generator) is ``devtools/``, outside this package: it is
never deployed to Composer.
"""
