"""Fixtures every unit test shares."""

import pytest


@pytest.fixture(autouse=True)
def no_cache_from_the_environment(monkeypatch):
    """Tests name their caches; a cache folder set for the whole run (``$IWCLAIMS_CACHE``) must not reach the
    pytest runs they start in subprocesses, or the fault, interrupt and Ray tests would share one cache."""
    monkeypatch.delenv("IWCLAIMS_CACHE", raising=False)
