"""Checks of what a `keras_trt.SpikingModel` is fed: input shapes and class labels.

A spiking model is built for a fixed number of timesteps T (its input is
(batch, T, ...)). Keras checks input shapes when a model is called eagerly, but not the
same way inside `fit`/`evaluate`/`predict` once their steps are compiled: JAX's steps
call the model without the check (a wrong T ran on and logged NaN), and TensorFlow's
retraced steps relax the time axis to None (a TypeError from inside a layer). Labels are
only seen inside the loss, where compiled steps cannot read them. So SpikingModel checks
the data itself, eagerly, before Keras sees it:

- `check_input_shapes(model, inputs)`: the static shape of every input against the
  model's input spec, with one ValueError naming T, the frame shape or the rank (and
  the batch size, where the model fixes one, as a streaming model does);
- `check_data(model, x, y)`: that, plus the labels, for the data `fit`, `evaluate`,
  `predict` and the `*_on_batch` methods take: NumPy arrays and tensors whole, a
  `tf.data.Dataset` and a Python generator by their first batch (the generator's is
  read and handed back: `check_data` returns the data to use). Other sources
  (`keras.utils.PyDataset`, torch DataLoaders) are not looked at; there, and in later
  batches, an invalid label gives a NaN loss inside the steps (see `keras_trt._labels`).

```python
import keras, numpy as np
import keras_trt as kt
from keras_trt import _model_inputs as model_inputs

inputs = keras.Input((4, 3))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(inputs))
model_inputs.check_input_shapes(model, np.zeros((8, 4, 3), "float32"))  # fine
try:
    model_inputs.check_input_shapes(model, np.zeros((8, 6, 3), "float32"))
except ValueError as error:
    print(error)  # ... 6 timesteps (axis 1), but the model was built for T=4 ...
```
"""

import types
import weakref

import keras
import numpy as np

from keras_trt import _labels as labels_lib
from keras_trt import losses as losses_lib

__all__ = ["check_input_shapes", "check_data", "check_validation_data"]

_LABEL_LOSSES = (losses_lib.SDTLoss, losses_lib.TETLoss, losses_lib.TRTLoss)

# Datasets each model has already looked at: a look reads one batch (and, before it, a
# shuffle buffer), and a new iterator draws a new order from a reshuffling dataset, so
# repeated fit(dataset, epochs=1) calls look only once.
_LOOKED_AT = weakref.WeakKeyDictionary()


def _static_dimension(dim):
    """`dim` as an int, or None where it is unknown until the model runs: None, or a
    symbolic dimension (JAX's export traces a symbolic batch, on which int() raises)."""
    return int(dim) if isinstance(dim, (int, np.integer)) else None


def _static_shape(value):
    shape = getattr(value, "shape", None)
    if shape is None or getattr(shape, "rank", 0) is None:  # a TensorShape of unknown rank
        return None
    return tuple(_static_dimension(d) for d in shape)


def _output_timesteps(model):
    outputs = getattr(model, "outputs", None) or []
    timesteps = {output.shape[1] for output in outputs if len(output.shape) == 3}
    return timesteps.pop() if len(timesteps) == 1 else None


def _fixed_batch_sizes(model):
    """{input name: batch size} of the inputs built with a static batch size
    (`keras.Input(batch_shape=...)`, as a streaming model's): the input spec omits it."""
    try:
        inputs = model.inputs or []
    except (AttributeError, ValueError):
        return {}
    return {t.name: t.shape[0] for t in inputs if len(t.shape) and t.shape[0] is not None}


def _input_specs(model):
    """[(name, expected shape with None batch)], or None where the model has no spec."""
    try:
        specs = model.input_spec
    except AttributeError:
        return None
    specs = keras.tree.flatten(specs) if specs is not None else []
    if not specs or any(getattr(s, "shape", None) is None for s in specs):
        return None
    return [(s.name, tuple(s.shape)) for s in specs]


def _pair_inputs(specs, inputs):
    if isinstance(inputs, dict):
        if all(name in inputs for name, _ in specs):
            return [(spec, inputs[spec[0]]) for spec in specs]
        return []
    flat = keras.tree.flatten(inputs)
    return list(zip(specs, flat)) if len(flat) == len(specs) else []


def _show(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _mismatch(given, expected):
    """Where `given` disagrees with `expected` (ignoring the batch axis and unknown
    dims), or None. A trailing axis of 1 may be missing or extra, as Keras allows."""
    if len(given) == len(expected) + 1 and given[-1] == 1:
        given = given[:-1]
    elif len(given) + 1 == len(expected) and expected[-1] == 1:
        expected = expected[:-1]
    if len(given) != len(expected):
        return "rank"
    wrong = [i for i in range(1, len(given))
             if None not in (given[i], expected[i]) and given[i] != expected[i]]
    return wrong or None


def check_input_shapes(model, inputs):
    """Raises a ValueError if a static input shape disagrees with the model's input spec
    (rank, timesteps T on axis 1, or the per-timestep frame shape)."""
    specs = _input_specs(model)
    if specs is None:
        return
    timesteps = _output_timesteps(model)
    fixed_batch = _fixed_batch_sizes(model)
    for (name, expected), value in _pair_inputs(specs, inputs):
        given = _static_shape(value)
        if given is None:
            continue
        batch = fixed_batch.get(name)
        if None not in (given[0], batch) and given[0] != batch:
            raise ValueError(
                f"{type(model).__name__} '{model.name}': input '{name}' has a batch of "
                f"{given[0]}, but the model was built for batches of exactly "
                f"{batch} (a streaming model keeps the state of that many "
                "sequences). Feed batches of that size, or build (or convert) the model "
                "for this batch size.")
        wrong = _mismatch(given, expected)
        if wrong is None:
            continue
        is_time = len(expected) >= 3 and timesteps is not None and expected[1] == timesteps
        if wrong == "rank":
            what = [f"rank {len(given)}, but the model expects rank {len(expected)}"]
        elif is_time:
            what = []
            if 1 in wrong:
                what.append(f"{given[1]} timesteps (axis 1), but the model was built for "
                            f"T={expected[1]}" + (" (a streaming model takes one timestep "
                                                   "per call: feed x[:, t:t + 1])"
                                                   if expected[1] == 1 else ""))
            if any(i > 1 for i in wrong):
                what.append(f"frames of shape {_show(given[2:])}, but the model expects "
                            f"{_show(expected[2:])}")
        else:
            what = [f"samples of shape {_show(given[1:])}, but the model expects "
                    f"{_show(expected[1:])}"]
        expected_text = "(batch, " + ", ".join(
            "None" if d is None else str(d) for d in expected[1:]) + ")"
        raise ValueError(
            f"{type(model).__name__} '{model.name}': input '{name}' has shape "
            f"{_show(given)}, expected {expected_text}: {'; '.join(what)}. Feed data of "
            "the shape the model was built for, or build the model for this shape."
        )


def _label_classes(model):
    """The number of classes when the compiled loss takes class labels, else None."""
    losses = keras.tree.flatten(getattr(model, "loss", None))
    if not any(isinstance(loss, _LABEL_LOSSES) for loss in losses):
        return None
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or outputs[0].shape[-1] is None:
        return None
    return int(outputs[0].shape[-1])


def _is_tf_dataset(data):
    return any(c.__module__.startswith("tensorflow.python.data") for c in type(data).__mro__)


def _looked_at(model, dataset, remember=False):
    try:
        seen = _LOOKED_AT.setdefault(model, weakref.WeakSet())
        if remember:
            seen.add(dataset)
        return dataset in seen
    except TypeError:  # not weakly referenceable: look every time
        return False


def _is_array(value):
    return _static_shape(value) is not None


def _yield_again(first, rest):
    yield first
    yield from rest


def _check_generator(model, generator):
    """Checks the first batch of a Python generator; returns a generator of all its
    batches, that one included (an empty one as it is: Keras says it is empty)."""
    try:
        first = next(generator)
    except StopIteration:
        return generator
    if isinstance(first, tuple):  # else Keras explains what a generator must yield
        check_data(model, *keras.utils.unpack_x_y_sample_weight(first)[:2])
    return _yield_again(first, generator)


def check_data(model, x, y=None, read_device_labels=True):
    """Checks data as `fit`/`evaluate`/`predict` take it (see the module docstring) and
    returns `x` to use in its place (a generator whose first batch was read is replaced
    by one that yields it again).

    `read_device_labels=False` reads only labels held in NumPy: a per-step method such
    as `train_on_batch` then never waits for a GPU.
    """
    if isinstance(x, types.GeneratorType):
        return _check_generator(model, x)
    if _is_tf_dataset(x):
        if _looked_at(model, x):
            return x
        for element in x.take(1):
            element = keras.tree.map_structure(np.asarray, element)
            check_data(model, *keras.utils.unpack_x_y_sample_weight(element)[:2])
        _looked_at(model, x, remember=True)  # only once its first batch passed
        return x
    if not (_is_array(x) or isinstance(x, (list, dict))):
        return x
    check_input_shapes(model, x)
    classes = _label_classes(model)
    if classes is None or y is None or not _is_array(y):
        return x
    if not read_device_labels and not isinstance(y, np.ndarray):
        return x
    labels_lib.check_label_values(y, classes, f"{type(model).__name__} '{model.name}'")
    return x


def check_validation_data(model, validation_data):
    """`check_data` for `fit(validation_data=...)`: (x, y), (x, y, sample_weight), a
    dataset or a generator; returns the validation data to use in its place."""
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
        check_data(model, x, y)
        return validation_data
    if validation_data is not None:
        return check_data(model, validation_data)
    return validation_data
