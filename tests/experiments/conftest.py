"""Fixtures of the keras_trt.experiments tests: a data cache per session."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _cache(session_data_cache):
    """digits_dvs events are cached in a session folder."""
