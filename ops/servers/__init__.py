"""Servers the farm starts or serves beside its own processes.

Embedded Redis and PostgreSQL for one-machine runs and tests, the Flower launcher and
the Prometheus exporter.
"""
