"""Learning curves from the recipes' CSV logs (Keras `CSVLogger`), EMA-smoothed as the paper.

The authors smoothed their curves with an exponential moving average of weight 0.5
(docs/method.md, Training loop): s_0 = v_0, s_k = w * s_{k-1} + (1 - w) * v_k.

```python
import os, tempfile
from keras_trt.analysis import read_csv_log, ema, plot_learning_curves

path = os.path.join(tempfile.mkdtemp(), "log.csv")
with open(path, "w") as f:
    f.write("epoch,accuracy,loss,val_accuracy,val_loss\\n")
    for e in range(5):
        f.write(f"{e},{0.5 + 0.1 * e},{1 - 0.1 * e},{0.4 + 0.1 * e},{1.1 - 0.1 * e}\\n")
log = read_csv_log(path)           # {"epoch": array([0, ..., 4]), "accuracy": ..., ...}
smooth = ema(log["val_accuracy"])  # weight 0.5
plot_learning_curves({"TRT": path}, os.path.join(os.path.dirname(path), "curves.png"))
```
"""

import csv
import os

import numpy as np

__all__ = ["read_csv_log", "ema"]


def ema(values, weight=0.5):
    """Exponential moving average: s_0 = v_0, s_k = weight * s_{k-1} + (1 - weight) * v_k.

    NaN entries (e.g. "NA" in a CSV log) keep the previous smoothed value.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"`weight` must be in [0, 1), got {weight}.")
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    last = np.nan
    for k, v in enumerate(values):
        if np.isnan(last):
            last = v
        elif not np.isnan(v):
            last = weight * last + (1.0 - weight) * v
        out[k] = last
    return out


def _to_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def read_csv_log(path):
    """A Keras CSVLogger file -> `{column: float64 numpy array}` ("NA" and blanks -> NaN)."""
    if os.path.isdir(path):
        path = os.path.join(path, "log.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"read_csv_log: no CSV log at {path}.")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"read_csv_log: {path} has no rows.")
    return {key: np.array([_to_float(row.get(key)) for row in rows])
            for key in rows[0] if key is not None}
