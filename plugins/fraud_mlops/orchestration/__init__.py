"""Builders of the DAGs' tasks: the only place where the two targets choose operators."""
