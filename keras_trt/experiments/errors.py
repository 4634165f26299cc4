"""The errors of `keras_trt.experiments`: a run that cannot start or finish as asked.

Both are `ValueError`s; the command line prints them as one line, without a traceback.

```python
from keras_trt.experiments.errors import ExperimentError, RunFolderError

print(issubclass(RunFolderError, ExperimentError))   # True
print(issubclass(ExperimentError, ValueError))       # True
```
"""

__all__ = ["ExperimentError", "RunFolderError"]


class ExperimentError(ValueError):
    """A run cannot start or finish as asked: an empty split, a missing validation split
    for `select_on="validation"`, a first epoch that did not complete, a dataset that is
    not there."""


class RunFolderError(ExperimentError):
    """The run folder holds a run that this call must not touch.

    Attributes:
        folder: the run folder.
        reason: "exists" (a run is there: pass `resume=True` or `overwrite=True`) or
            "changed" (resuming with other settings than the saved run's).
        changed: for "changed", `[(setting, saved value, new value)]`.
    """

    def __init__(self, message, folder, reason, changed=()):
        super().__init__(message)
        self.folder, self.reason, self.changed = folder, reason, list(changed)
