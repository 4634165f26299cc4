"""The Fisher information as a callback: an analysis that runs during `fit`.

`FisherInformationCallback` computes FI(t) and the information centroid IC
(docs/method.md, Fisher information,
`keras_trt.analysis.fisher_information`) after chosen epochs and writes, into
`output_dir`:

- `fisher.csv`: one row per observed epoch: `epoch, ic, fi_1, ..., fi_T`;
- `fisher.png`: FI(t) per observed epoch and IC over epochs (the TIC picture of the
  paper's Fig. 4).

Both files are rewritten after every observation, so a killed run keeps what it has;
`append=True` keeps the rows an earlier run wrote (a resumed run). Epochs are counted from
1 as in the reference (`--fi_epochs 20-40-...` = after the 20th epoch completes; its
`--observe_ic`, IC after every epoch, is `epochs="all"`). The protocol is
`fisher_information`'s, whose defaults are the reference's: a fresh pass over `data` for
each prefix length t, 101 batches, divisor 100. The reference computes FI on its shuffled,
augmented training loader; pass a training dataset to do the same, preferably a separate
instance of it: iterating the `tf.data` dataset that `fit` trains on advances its shuffle
seed, so later epochs would see other orders than in a run without the callback (the
reference has that effect, docs/method.md, Fisher information).

```python
import os, tempfile
import numpy as np, keras
import keras_trt as kt
from keras_trt.callbacks import FisherInformationCallback

inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
model.compile(optimizer="adam", loss=kt.losses.TRTLoss())
rng = np.random.default_rng(0)
x, y = rng.normal(1, 1, (64, 4, 8)).astype("float32"), rng.integers(0, 3, 64)
out = tempfile.mkdtemp()
cb = FisherInformationCallback((x, y), epochs=[1, 2], batches=2, output_dir=out)
model.fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
cb.history      # {1: array of T values, 2: ...};  cb.ics: {1: IC, 2: IC}
```
"""

import csv
import os

import keras
import numpy as np

__all__ = ["FisherInformationCallback", "parse_epochs"]


def parse_epochs(epochs):
    """The epochs to observe: "all", or a sorted list of 1-based epochs from a list or a
    text such as "20-40-60" (or "20,40,60"); a ValueError for anything else.

    ```python
    from keras_trt.callbacks.fisher import parse_epochs
    print(parse_epochs("40-20"))   # [20, 40]
    ```
    """
    if isinstance(epochs, str) and epochs.strip().lower() == "all":
        return "all"
    if isinstance(epochs, str):
        epochs = [int(e) for e in epochs.replace(",", "-").split("-") if e.strip()]
    epochs = sorted({int(e) for e in epochs})
    if not epochs or epochs[0] < 1:
        raise ValueError(f"`epochs` must be positive epoch numbers (1-based), got {epochs}.")
    return epochs


class FisherInformationCallback(keras.callbacks.Callback):
    """Computes FI(t) and IC after chosen epochs of `fit` and writes CSV + PNG.

    Args:
        data: anything `model.evaluate` accepts (the reference uses the training set).
        epochs: 1-based epochs after which to observe (list, or "20-40-60" as the
            reference's `--fi_epochs`, or "all": every epoch); default the reference's
            20-40-...-300.
        batches: batches per prefix length (reference: 101, dividing by 100 anyway).
        divisor: see `fisher_information` (default 100.0, the reference's).
        stream, shuffle, seed: see `fisher_information` (default: a fresh pass over
            `data` for each prefix length, as the reference).
        append: keep the rows of an existing `fisher.csv` (continuing a run).
        output_dir: where `fisher.csv` / `fisher.png` go (None: keep in memory only).
        prefix: file-name prefix (default "fisher").
        batch_size: batch size for array data (reference: 64).
        log_ic: also put `ic` into the epoch logs of observed epochs (note: a CSVLogger
            placed after this callback then records it; epochs without it read "NA").
        verbose: 1 shows a progress bar and prints FI/IC.

    Attributes:
        history: `{epoch: (T,) FI array}`; ics: `{epoch: IC}`.
    """

    def __init__(self, data, epochs=(20, 40, 60, 80, 100, 120, 200, 300), batches=101,
                 divisor=100.0, output_dir=None, prefix="fisher", batch_size=64,
                 log_ic=False, verbose=0, stream="per_prefix", shuffle=False, seed=None,
                 append=False):
        super().__init__()
        self.data = data
        self.epochs = parse_epochs(epochs)
        self.batches = batches
        self.divisor = divisor
        self.output_dir = output_dir
        self.prefix = prefix
        self.batch_size = batch_size
        self.log_ic = log_ic
        self.verbose = verbose
        self.stream = stream
        self.shuffle = shuffle
        self.seed = seed
        self.append = append
        self.history = {}
        self.ics = {}

    @property
    def csv_path(self):
        return None if self.output_dir is None else os.path.join(
            self.output_dir, f"{self.prefix}.csv")

    @property
    def png_path(self):
        return None if self.output_dir is None else os.path.join(
            self.output_dir, f"{self.prefix}.png")

    def on_train_begin(self, logs=None):
        if self.append and self.csv_path and os.path.isfile(self.csv_path):
            with open(self.csv_path, newline="") as f:
                for row in list(csv.reader(f))[1:]:
                    if row:
                        self.history.setdefault(int(row[0]), np.array(row[2:], np.float64))
                        self.ics.setdefault(int(row[0]), float(row[1]))

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if self.epochs != "all" and number not in self.epochs:
            return
        from keras_trt.analysis.fisher import fisher_information

        result = fisher_information(self.model, self.data, batches=self.batches,
                                    divisor=self.divisor, batch_size=self.batch_size,
                                    verbose=self.verbose, stream=self.stream,
                                    shuffle=self.shuffle, seed=self.seed)
        self.history[number] = result["fisher"]
        self.ics[number] = result["ic"]
        if self.verbose:
            print(f"\nEpoch {number}: FI(t) = {np.round(result['fisher'], 6).tolist()}, "
                  f"IC = {result['ic']:.4f}")
        if self.log_ic and logs is not None:
            logs["ic"] = result["ic"]
        if self.output_dir is not None:
            self._write()

    def _write(self):
        from keras_trt.analysis.plots import plot_fisher_epochs

        os.makedirs(self.output_dir, exist_ok=True)
        steps = max(len(v) for v in self.history.values())
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "ic"] + [f"fi_{t}" for t in range(1, steps + 1)])
            for epoch in sorted(self.history):
                writer.writerow([epoch, repr(float(self.ics[epoch]))]
                                + [repr(float(v)) for v in self.history[epoch]])
        plot_fisher_epochs(self.history, self.png_path)
