"""The recipes' data: the loader of a recipe's dataset with one-line errors, and the
resumable stream of training epochs.

Every epoch's training batches are the k-th pass over one seeded tf.data pipeline; a
resumed run fast-forwards that pipeline's random state by opening (not reading) k
iterators, so the shuffling and augmentation of epoch k are those of the uninterrupted run.

```python
import _data_stream
train = _data_stream.load_split(RECIPE, args, "train")
stream = _data_stream.EpochStream(train, steps=100, start_epoch=3)   # epochs 3, 4, ...
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


class EpochStream:
    """Yields the training batches of epochs `start, start + 1, ...` as numpy arrays.

    Epoch e is the e-th pass over one seeded tf.data pipeline (its shuffling and
    augmentation are re-randomised per pass by tf.data's seed generators). Starting at
    epoch k opens and drops k iterators first, which advances those generators exactly as
    k completed epochs did, so epoch k sees the same batches as in an uninterrupted run.
    Each epoch yields exactly `steps` batches (fewer only if the pipeline is shorter).
    """

    def __init__(self, dataset, steps, start_epoch=0):
        self.dataset = dataset.take(steps)
        self.steps = steps
        self.start_epoch = start_epoch

    def __iter__(self):
        for _ in range(self.start_epoch):
            iter(self.dataset)  # advances the pipeline's random state by one epoch
        while True:
            for x, y in self.dataset:
                yield x.numpy(), y.numpy()
