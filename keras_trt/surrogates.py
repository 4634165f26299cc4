"""Spike functions: an exact Heaviside forward with a surrogate gradient.

The forward pass of every surrogate is the strict Heaviside step `H(u) = 1 if u > 0 else 0`
(exactly 0 or 1, never an approximation); the backward pass replaces the Dirac delta by the
derivative of a smooth or piecewise-linear function of `u` (docs/method.md, Surrogate
gradients). `u` is the membrane
potential minus the threshold.

Example:

```python
import keras
import keras_trt as kt

spike = kt.surrogates.Triangle(gamma=1.0)
u = keras.ops.convert_to_tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
spike(u)                 # [0, 0, 0, 1, 1]
spike.derivative(u)      # [0, 0.5, 1, 0.5, 0]
kt.surrogates.get("atan")  # a surrogate by name
```
"""

import math

import keras
from keras import ops

__all__ = ["Surrogate", "Triangle", "Sigmoid", "ATan", "get", "names"]


class Surrogate:
    """Base class: subclasses define `derivative(u)` (dS/du of the surrogate).

    `__call__(u)` returns `H(u)` with `derivative(u) * upstream` as its gradient, through
    `keras.ops.custom_gradient` so that one definition serves torch, TensorFlow and JAX.
    No gradient flows to the surrogate's own parameter (as in the reference code).
    """

    name = None

    def derivative(self, u):
        raise NotImplementedError

    def __call__(self, u):
        # The surrogate's parameter is captured by closure (self) rather than passed as an
        # argument: torch's save_for_backward rejects Python floats.
        @ops.custom_gradient
        def heaviside(x):
            def grad(*args, upstream=None):
                # torch calls grad(*args, upstream=...), TensorFlow/JAX call grad(upstream).
                upstream = args[0] if upstream is None else upstream
                return upstream * ops.cast(self.derivative(x), upstream.dtype)

            return ops.cast(ops.greater(x, 0), x.dtype), grad

        return heaviside(u)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


def _positive(value, name, cls):
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{cls}: `{name}` must be a finite number > 0, got {value}.")
    return value


@keras.saving.register_keras_serializable(package="keras_trt")
class Triangle(Surrogate):
    """Triangle surrogate: dS/du = (1/gamma)^2 * max(0, gamma - |u|).

    Peak `1/gamma` at `u = 0`, support `(-gamma, gamma)`. The surrogate of the TRT and
    TET reference code (`gamma=1`: `max(0, 1 - |u|)`).
    """

    name = "triangle"

    def __init__(self, gamma=1.0):
        self.gamma = _positive(gamma, "gamma", "Triangle")

    def derivative(self, u):
        g = self.gamma
        # relu, not maximum(., 0): Keras' torch maximum computes float64 in float32
        return ops.relu(g - ops.abs(u)) * (1.0 / (g * g))

    def get_config(self):
        return {"gamma": self.gamma}


@keras.saving.register_keras_serializable(package="keras_trt")
class Sigmoid(Surrogate):
    """Sigmoid surrogate: dS/du = alpha * sig(alpha u) * (1 - sig(alpha u))."""

    name = "sigmoid"

    def __init__(self, alpha=4.0):
        self.alpha = _positive(alpha, "alpha", "Sigmoid")

    def derivative(self, u):
        s = ops.sigmoid(self.alpha * u)
        return self.alpha * s * (1.0 - s)

    def get_config(self):
        return {"alpha": self.alpha}


@keras.saving.register_keras_serializable(package="keras_trt")
class ATan(Surrogate):
    """Arctangent surrogate (SpikingJelly's ATan): dS/du = alpha / (2 (1 + (pi alpha u / 2)^2))."""

    name = "atan"

    def __init__(self, alpha=2.0):
        self.alpha = _positive(alpha, "alpha", "ATan")

    def derivative(self, u):
        z = (math.pi / 2.0) * self.alpha * u
        return (self.alpha / 2.0) / (1.0 + z * z)

    def get_config(self):
        return {"alpha": self.alpha}


_BY_NAME = {cls.name: cls for cls in (Triangle, Sigmoid, ATan)}


def names():
    """The surrogate names that `get` accepts."""
    return sorted(_BY_NAME)


def get(identifier):
    """Returns a `Surrogate` from an instance, a name (`"triangle"`), or a config dict."""
    if isinstance(identifier, Surrogate):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown surrogate {identifier!r}: `surrogate` must be one of {names()} "
                "or a keras_trt.surrogates.Surrogate instance."
            )
        return cls()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise TypeError(
        f"`surrogate` must be a name in {names()} or a Surrogate instance, "
        f"got {type(identifier).__name__}."
    )


def serialize(surrogate):
    return keras.saving.serialize_keras_object(surrogate)
