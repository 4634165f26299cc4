"""Argument checks with one message format: `"<owner>: <name> must be <expected>, got
<name>=<value>."`, raised as a ValueError.

An integer is a Python `int` or a NumPy integer (what `np.arange` and array indexing give),
never a `bool` (`True` would otherwise pass as 1); a number is also a float or a NumPy
float. Each check returns the value as a Python `int` / `float`, so callers store plain
numbers (JSON-able configs).

```python
from keras_trt.validation import integer, number, positive_int

steps = positive_int(4, "steps", "MyLayer")             # 4
seed = integer(0, "seed", minimum=0, maximum=2**31 - 1)  # 0
rate = number(0.1, "rate", "MyLayer", above=0)          # 0.1
try:
    positive_int(True, "timesteps", "RepeatTime")
except ValueError as e:
    print(e)   # RepeatTime: timesteps must be a positive integer, got timesteps=True.
```
"""

import numbers

__all__ = ["integer", "positive_int", "number"]


def integer(value, name, owner=None, *, minimum=None, maximum=None, allow_none=False,
            hint=None):
    """`value` as an int if it is an integer in [minimum, maximum] (None: no bound), or
    None if it is None and `allow_none`; else a ValueError naming `name` (and `owner`,
    the function or class it is an argument of), with `hint` in parentheses."""
    return _check(value, name, owner, numbers.Integral, (minimum, False),
                  (maximum, False), allow_none, hint, int)


def positive_int(value, name, owner=None, *, allow_none=False, hint=None):
    """An integer >= 1 (see `integer`), "a positive integer" in the message."""
    return _check(value, name, owner, numbers.Integral, (1, False), (None, False),
                  allow_none, hint, int, expected="a positive integer")


def number(value, name, owner=None, *, at_least=None, above=None, below=None,
           allow_none=False, hint=None):
    """`value` as a float if it is a real number (not a bool, not NaN) with
    `value >= at_least` or `value > above`, and `value < below` (None: no bound), or None
    if it is None and `allow_none`; else a ValueError in `integer`'s format."""
    low = (above, True) if above is not None else (at_least, False)
    return _check(value, name, owner, numbers.Real, low, (below, True), allow_none,
                  hint, float)


def _check(value, name, owner, kind, low, high, allow_none, hint, convert, expected=None):
    """`convert(value)` if `value` is a `kind` (never a bool, never NaN) within the
    bounds `low` and `high`, each (bound or None, whether it is excluded)."""
    if value is None and allow_none:
        return None
    (low, low_open), (high, high_open) = low, high
    ok = (isinstance(value, kind) and not isinstance(value, bool) and value == value
          and (low is None or (value > low if low_open else value >= low))
          and (high is None or (value < high if high_open else value <= high)))
    if ok:
        return convert(value)
    if expected is None:
        expected = "an integer" if kind is numbers.Integral else "a number"
        if low is not None and high is not None:
            expected += f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            expected += f" {'>' if low_open else '>='} {low}"
        elif high is not None:
            expected += f" {'<' if high_open else '<='} {high}"
    where = f"{owner}: " if owner else ""
    hint = f" ({hint})" if hint else ""
    none = " or None" if allow_none else ""
    raise ValueError(f"{where}{name} must be {expected}{none}{hint}, got {name}={value!r}.")
