"""Fixtures of the core tests."""

import pytest

import keras_trt as kt


@pytest.fixture
def penalty_added_by_the_caller():
    """Runs the test inside `kt.losses.weight_penalty_scope()`: the caller's promise that
    it adds the weight penalty itself, without which a TRTLoss refuses to compute its
    data term."""
    with kt.losses.weight_penalty_scope():
        yield
