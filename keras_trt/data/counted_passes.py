"""A tf.data dataset whose passes are counted, so a resumed run can replay them.

`keras_trt.callbacks.ExactResume.wrap_dataset` uses it: the shuffle and augmentation
state of a tf.data pipeline advances once per pass opened, so restoring a run exactly
means opening as many passes as the interrupted run had read.

```python
import tensorflow as tf
from keras_trt.data.counted_passes import CountedPasses

passes = CountedPasses(tf.data.Dataset.range(4).batch(2))
print(len(list(passes.wrapped)), passes.opened)   # 2 1
```
"""

import tensorflow as tf

class CountedPasses:
    """A tf.data dataset as a generator-backed dataset that counts the passes read.

    Each pass of `wrapped` opens one iterator of `dataset` when its first batch is read
    (an iterator that Keras opens and never reads costs nothing), so `opened` is the
    number of passes that advanced the dataset's random state.
    """

    def __init__(self, dataset):
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError("ExactResume.wrap_dataset: expected a tf.data.Dataset, got "
                            f"{type(dataset).__name__}.")
        size = int(dataset.cardinality())
        if size == int(tf.data.INFINITE_CARDINALITY):
            raise ValueError(
                "ExactResume.wrap_dataset: the dataset is infinite (a repeat()?); pass a "
                "finite dataset and fit without `steps_per_epoch`, one pass per epoch.")
        self.dataset = dataset
        self.opened = 0
        wrapped = tf.data.Dataset.from_generator(self._one_pass,
                                                 output_signature=dataset.element_spec)
        if size >= 0:
            wrapped = wrapped.apply(tf.data.experimental.assert_cardinality(size))
        self.wrapped = wrapped.prefetch(2)

    def _one_pass(self):
        self.opened += 1
        yield from self.dataset

    def advance_to(self, passes):
        """Opens (and does not read) passes until `passes` have been opened in all."""
        if passes < self.opened:
            raise ValueError(
                f"ExactResume: the saved run had read {passes} passes of its training "
                f"data when it stopped, but {self.opened} were read already in this "
                "process before fit resumed it; iterate the wrapped dataset only in fit.")
        while self.opened < passes:
            iter(self.dataset)   # advances the shuffle/augmentation state by one pass
            self.opened += 1
