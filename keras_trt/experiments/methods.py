"""The three training methods and their hyperparameters, under the names of the command line.

Hyperparameters are one flat dict for every method: TRT's `eta`, `lam`, `decay` and
`epsilon` (`keras_trt.losses.TRTLoss`), TET's `tet_lam` and `tet_phi`
(`keras_trt.losses.TETLoss`); SDT (`keras_trt.losses.SDTLoss`) has none. Each method
reads its own; the defaults are the losses' own.

```python
from keras_trt.experiments import methods

hp = methods.resolve_hyperparameters({"lam": 5e-5})
print(methods.method_hyperparameters("tet", hp))   # {'lam': 0.001, 'phi': 1.0}
print(type(methods.make_loss("trt", hp)).__name__)   # TRTLoss
```
"""

__all__ = ["METHODS", "DEFAULT_HYPERPARAMETERS", "resolve_hyperparameters",
           "method_hyperparameters", "make_loss"]

METHODS = ("trt", "tet", "sdt")
# The losses' defaults: TRTLoss(eta, lam, decay, epsilon), TETLoss(lam, phi).
DEFAULT_HYPERPARAMETERS = {"eta": 0.05, "lam": 1e-5, "decay": 0.25, "epsilon": 1e-5,
                           "tet_lam": 1e-3, "tet_phi": 1.0}


def check_method(method):
    """`method` if it is one of METHODS, else a ValueError."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    return method


def resolve_hyperparameters(hyperparameters=None):
    """DEFAULT_HYPERPARAMETERS updated with `hyperparameters` (floats); unknown names and
    negative weights are a ValueError."""
    given = dict(hyperparameters or {})
    unknown = sorted(set(given) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise ValueError(f"`hyperparameters`: unknown name(s) {', '.join(unknown)}; expected "
                         f"some of {', '.join(DEFAULT_HYPERPARAMETERS)}.")
    out = dict(DEFAULT_HYPERPARAMETERS)
    for name, value in given.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"`hyperparameters[{name!r}]` must be a number, got "
                             f"{value!r}.") from None
        if name != "tet_phi" and not value >= 0:   # phi, TET's MSE target, may be any
            raise ValueError(f"`hyperparameters[{name!r}]` must be >= 0, got {value}.")
        out[name] = value
    return out


def method_hyperparameters(method, hyperparameters):
    """The hyperparameters that `method` uses, under its loss's argument names."""
    hp = hyperparameters
    if method == "trt":
        return {"eta": hp["eta"], "lam": hp["lam"], "decay": hp["decay"],
                "epsilon": hp["epsilon"]}
    if method == "tet":
        return {"lam": hp["tet_lam"], "phi": hp["tet_phi"]}
    return {}


def make_loss(method, hyperparameters):
    """The loss of `method` with its hyperparameters."""
    import keras_trt as kt

    check_method(method)
    losses = {"trt": kt.losses.TRTLoss, "tet": kt.losses.TETLoss, "sdt": kt.losses.SDTLoss}
    return losses[method](**method_hyperparameters(method, hyperparameters))
