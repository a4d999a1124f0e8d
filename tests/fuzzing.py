"""Shared hypothesis settings of the fuzz tests: bounded and reproducible in CI."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzz(n: int) -> settings:
    """Bounded, reproducible: ``n`` examples, derandomised, no example database, no deadline."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
