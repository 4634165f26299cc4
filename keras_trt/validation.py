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


def _fail(value, name, owner, expected, hint):
    where = f"{owner}: " if owner else ""
    hint = f" ({hint})" if hint else ""
    raise ValueError(f"{where}{name} must be {expected}{hint}, got {name}={value!r}.")


def integer(value, name, owner=None, *, minimum=None, maximum=None, allow_none=False,
            hint=None):
    """`value` as an int if it is an integer in [minimum, maximum] (None: no bound), or
    None if it is None and `allow_none`; else a ValueError naming `name` (and `owner`,
    the function or class it is an argument of), with `hint` in parentheses."""
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    return _integer(value, name, owner, minimum, maximum, allow_none, hint, expected)


def positive_int(value, name, owner=None, *, allow_none=False, hint=None):
    """An integer >= 1 (see `integer`), "a positive integer" in the message."""
    return _integer(value, name, owner, 1, None, allow_none, hint, "a positive integer")


def _integer(value, name, owner, minimum, maximum, allow_none, hint, expected):
    if value is None and allow_none:
        return None
    if allow_none:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            (minimum is not None and value < minimum) or \
            (maximum is not None and value > maximum):
        _fail(value, name, owner, expected, hint)
    return int(value)


def number(value, name, owner=None, *, at_least=None, above=None, below=None,
           allow_none=False, hint=None):
    """`value` as a float if it is a real number (not a bool, not NaN) with
    `value >= at_least`, `value > above` and `value < below` (None: no bound), or None
    if it is None and `allow_none`; else a ValueError in `integer`'s format."""
    if value is None and allow_none:
        return None
    low = (f"[{at_least}" if at_least is not None else
           f"({above}" if above is not None else None)
    if low is not None and below is not None:
        expected = f"a number in {low}, {below})"
    elif at_least is not None:
        expected = f"a number >= {at_least}"
    elif above is not None:
        expected = f"a number > {above}"
    elif below is not None:
        expected = f"a number < {below}"
    else:
        expected = "a number"
    if allow_none:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or \
            (at_least is not None and not value >= at_least) or \
            (above is not None and not value > above) or \
            (below is not None and not value < below):
        _fail(value, name, owner, expected, hint)
    return float(value)
