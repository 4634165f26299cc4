import pytest

from tests.analysis.models import conv_snn


@pytest.fixture(scope="session")
def conv_model():
    """One small conv SNN for the tests that do not change its weights (built once: model
    construction traces the LIF loop, which takes seconds on JAX)."""
    return conv_snn(T=2)
