"""The recipes' data: the loader of a recipe's dataset, with one-line errors.

(`keras_trt.callbacks.ExactResume.wrap_dataset` makes the training pipeline resumable.)

```python
import _data
train = _data.load_split(RECIPE, args, "train")     # a tf.data.Dataset of (x, y) batches
steps = _data.count_batches(train)
```
"""

import inspect

from _cli import fail


def _accepted(fn, kwargs):
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def loader_args(recipe, args, split):
    """Keyword arguments of `keras_trt.data.<recipe.dataset>` for `split`."""
    kwargs = {"split": split, "data_dir": args.data_dir, "batch_size": args.batch_size,
              "seed": args.seed}
    if split != "test":
        kwargs.update(validation_fraction=getattr(args, "validation_fraction", 0.0) or 0.0,
                      validation_seed=getattr(args, "validation_seed", 0),
                      train_samples=getattr(args, "train_samples", None))
    kwargs.update(recipe.loader_kwargs(args, split))
    return kwargs


def load_split(recipe, args, split, **overrides):
    """The tf.data pipeline of `split`; a missing dataset exits with a one-line message."""
    import keras_trt as kt
    loader = getattr(kt.data, recipe.dataset)
    kwargs = _accepted(loader, {**loader_args(recipe, args, split), **overrides})
    try:
        return loader(**kwargs)
    except FileNotFoundError as e:
        fail(_prefixed(recipe.dataset, str(e)))
    except ValueError as e:
        fail(_prefixed(recipe.dataset, str(e)))


def _prefixed(name, message):
    return message if message.lower().startswith(name.lower()) else f"{name}: {message}"


def count_batches(dataset):
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return sum(1 for _ in dataset)

