"""Declarative ML pipelines on Prefect: the spec schema, settings, pure decisions and the `mlops` CLI."""

__version__ = "0.2.0"
