"""One split of a run's data, whatever form `fit` accepts: how many batches an epoch has,
and the arguments of `fit` and `evaluate` that read it.

- a `tf.data.Dataset` of `(x, y)` batches: one pass per epoch (finite; its shuffling
  and augmentation re-randomised per pass, made resumable by `ExactResume.wrap_dataset`);
- an `(x, y)` tuple of NumPy arrays: batches of `batch_size`, shuffled by `fit` every
  epoch (the random state that `ExactResume` restores);
- a `keras.utils.PyDataset`: its `num_batches` per epoch;
- any other iterable of batches (a generator): `max_steps` batches per epoch (it has no
  length), continuing where the last epoch stopped.

`max_steps` caps the batches per epoch of every form (smoke runs).

```python
import numpy as np
from keras_trt.experiments.data import Split

split = Split(np.zeros((10, 4, 3)), np.zeros(10, "int32"), role="train", batch_size=4)
print(split.steps, sorted(split.fit_arguments()))   # 3 ['batch_size', 'shuffle', 'x', 'y']
```
"""

import math

__all__ = ["Split"]


def _is_tf_dataset(data):
    return all(hasattr(data, a) for a in ("cardinality", "take", "element_spec"))


def _is_array_pair(data):
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and all(hasattr(a, "shape") and len(a.shape) >= 1 for a in data))


class Split:
    """One split of a run: `Split(data, role=..., batch_size=..., max_steps=...)`, or
    `Split(x, y, ...)` for arrays.

    Attributes:
        kind: "dataset" (tf.data), "arrays", "pydataset" or "iterable".
        steps: batches per epoch (after `max_steps`).
        data: what `fit`/`evaluate` read (for analyses: capped to `steps` batches where
            the form allows it).
    """

    def __init__(self, data, y=None, role="train", batch_size=None, max_steps=None):
        import keras

        self.role = role
        if y is not None:
            data = (data, y)
        self.batch_size = batch_size
        if data is None:
            raise ValueError(f"`{role}_data` is missing.")
        if _is_tf_dataset(data):
            self._from_dataset(data, max_steps)
        elif _is_array_pair(data):
            self._from_arrays(data, batch_size, max_steps)
        elif isinstance(data, keras.utils.PyDataset):
            self.kind, self.data = "pydataset", data
            n = data.num_batches
            if n is None and max_steps is None:
                raise ValueError(f"`{role}_data`: an infinite PyDataset needs `max_steps` "
                                 "(the batches of one epoch).")
            self.steps = n if max_steps is None else min(n or max_steps, max_steps)
            self._capped = max_steps is not None
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
            if max_steps is None:
                raise ValueError(
                    f"`{role}_data` is an iterable without a length (a generator?): pass "
                    "`max_steps`, the batches of one epoch, or a tf.data.Dataset, arrays "
                    "or a keras.utils.PyDataset.")
            self.kind, self.data, self.steps, self._capped = "iterable", data, max_steps, True
        else:
            raise TypeError(
                f"`{role}_data` must be a tf.data.Dataset, an (x, y) tuple of arrays, a "
                f"keras.utils.PyDataset or an iterable of (x, y) batches; got "
                f"{type(data).__name__}.")
        if self.steps == 0:
            raise ValueError(f"the {role} split is empty")

    def _from_dataset(self, data, max_steps):
        import keras_trt as kt

        self.kind, self._full = "dataset", data
        self.steps = kt.data.count_batches(data)
        if max_steps:
            self.steps = min(self.steps, max_steps)
            data = data.take(self.steps)
        self.data = data

    def _from_arrays(self, data, batch_size, max_steps):
        x, y = data
        if len(x) != len(y):
            raise ValueError(f"`{self.role}_data`: x and y differ in length "
                             f"({len(x)} and {len(y)}).")
        if batch_size is None:
            raise ValueError(f"`{self.role}_data` is arrays: pass `batch_size`.")
        n = len(x) if not max_steps else min(len(x), max_steps * batch_size)
        self.kind, self.data = "arrays", (x[:n], y[:n])
        self.steps = math.ceil(n / batch_size)

    def fit_arguments(self, resume=None):
        """`fit`'s x (y, batch_size, shuffle, steps_per_epoch) for training; a tf.data
        pass is exactly `steps` batches, counted by `resume` (an ExactResume) if given."""
        import keras_trt as kt

        if self.kind == "dataset":
            epoch = kt.data.take_batches(self._full, self.steps)
            return {"x": resume.wrap_dataset(epoch) if resume is not None else epoch}
        if self.kind == "arrays":
            x, y = self.data
            return {"x": x, "y": y, "batch_size": self.batch_size, "shuffle": True}
        return {"x": self.data, **({"steps_per_epoch": self.steps} if self._capped else {})}

    def evaluate_arguments(self):
        """`evaluate`'s x (y, batch_size, steps)."""
        if self.kind == "arrays":
            x, y = self.data
            return {"x": x, "y": y, "batch_size": self.batch_size}
        return {"x": self.data, "steps": self.steps}

    def validation_arguments(self):
        """`fit`'s validation_data (validation_steps, validation_batch_size)."""
        if self.kind == "arrays":
            return {"validation_data": self.data, "validation_batch_size": self.batch_size}
        return {"validation_data": self.data, "validation_steps": self.steps}
