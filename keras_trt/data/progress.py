"""Progress lines for the slow one-off steps of the input pipelines (building a cache).

Framing 10,000 DVS recordings takes minutes once; without a sign of life it looks hung.
:class:`Progress` prints a line to stderr when the work starts, then at most every
``interval`` seconds, and when it ends; ``verbose=0`` prints nothing. Plain lines (no
carriage returns), so they read the same in a terminal, a notebook and a log file.

```python
from keras_trt.data.progress import Progress

progress = Progress(3, "dvs_cifar10 train: framing", unit="recordings")
for i in range(3):
    progress.update(i + 1)     # the last update prints "... 3/3 recordings ... done"
```
"""

import sys
import time


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Periodic "desc: done/total unit (pct), elapsed, ~left" lines on stderr.

    Args:
        total: number of items.
        desc: what is being done, e.g. "dvs_cifar10 train: framing".
        verbose: 1 prints, 0 is silent.
        interval: seconds between two progress lines.
        unit: the items' name in the lines.
        stream: where to print (default ``sys.stderr`` at the time of printing).
    """

    def __init__(self, total, desc, verbose=1, interval=10.0, unit="items", stream=None):
        self.total = int(total)
        self.desc = desc
        self.verbose = verbose
        self.interval = float(interval)
        self.unit = unit
        self.stream = stream
        self.start = time.perf_counter()
        self._last_print = self.start
        self._finished = False
        self._print(f"{desc}: {self.total:,} {unit} (once; later runs read the cache)")

    def _print(self, line):
        if self.verbose:
            stream = self.stream or sys.stderr
            print(line, file=stream, flush=True)

    def update(self, done):
        """Record that `done` items are finished; prints if due (always at the end)."""
        if not self.verbose or self._finished:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if done >= self.total:
            self._finished = True
            self._print(f"{self.desc}: {done:,}/{self.total:,} {self.unit} done in "
                        f"{_duration(elapsed)}")
        elif now - self._last_print >= self.interval:
            self._last_print = now
            left = elapsed / max(done, 1) * (self.total - done)
            self._print(f"{self.desc}: {done:,}/{self.total:,} {self.unit} "
                        f"({100 * done / self.total:.0f}%), {_duration(elapsed)} elapsed, "
                        f"~{_duration(left)} left")
