"""keras_trt.validation: the one argument check, one message format."""

import numpy as np
import pytest

import keras_trt as kt
from keras_trt.validation import integer, number, positive_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(2)])
def test_positive_int_accepts_ints_and_numpy_integers_as_int(value):
    out = positive_int(value, "steps", "Owner")
    assert out == value and type(out) is int


@pytest.mark.parametrize("value", [0, -2, True, False, 2.0, np.float32(2), "3", None,
                                   np.array([2])])
def test_positive_int_refuses_with_one_message(value):
    with pytest.raises(ValueError) as info:
        positive_int(value, "steps", "Owner")
    assert str(info.value) == f"Owner: steps must be a positive integer, got steps={value!r}."


def test_bounds_none_and_hint_in_the_message():
    assert positive_int(None, "n", allow_none=True) is None
    with pytest.raises(ValueError, match=r"^n must be a positive integer or None, got n=0\.$"):
        positive_int(0, "n", allow_none=True)
    assert integer(0, "epoch", minimum=0) == 0
    with pytest.raises(ValueError, match=r"^F: seed must be an integer in \[0, 9\] \(why\), "
                                         r"got seed=10\.$"):
        integer(10, "seed", "F", minimum=0, maximum=9, hint="why")
    with pytest.raises(ValueError, match=r"an integer >= 4, got h=3"):
        integer(3, "h", minimum=4)


def test_number():
    assert number(np.float32(0.5), "rate", above=0) == 0.5
    assert number(0, "fraction", at_least=0, below=1) == 0.0
    for bad in (1.0, -0.1, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match=r"^fraction must be a number in \[0, 1\), got "):
            number(bad, "fraction", at_least=0, below=1)
    with pytest.raises(ValueError, match=r"^G: lr must be a number > 0, got lr=0\.$"):
        number(0, "lr", "G", above=0)


@pytest.mark.parametrize("call", [
    lambda: kt.RepeatTime(True),
    lambda: kt.RepeatTime(0),
    lambda: kt.streaming_model(None, batch_size=1.0),
    lambda: kt.models.VGGSNN(num_classes=np.float64(10)),
])
def test_library_arguments_go_through_it(call):
    with pytest.raises(ValueError, match=r"must be a positive integer, got \w+="):
        call()


def test_numpy_integers_are_accepted_where_ints_are():
    assert kt.RepeatTime(np.int64(3)).get_config()["timesteps"] == 3
