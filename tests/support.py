"""What many test modules ask of the test run: the Keras backend it runs on, and a
subprocess's stderr without TensorFlow's start-up log lines."""

import re

import keras

BACKEND = keras.backend.backend()

# What TensorFlow's C++ runtime prints to stderr when it starts, whatever
# TF_CPP_MIN_LOG_LEVEL says (absl's early messages).
_FRAMEWORK_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|"
                            r"[IWE]\d{4} [\d:. ]+|To enable the following instructions)")


def stderr_lines(text):
    """The lines of a subprocess's stderr, without TensorFlow's start-up log lines."""
    return [line for line in text.strip().splitlines() if not _FRAMEWORK_LOG.match(line)]


# Examples and checks whose backend code other tests already cover on every backend run
# in one process only, to keep the three-backend CI run short: the keras-tuner search
# (its seeding and trial logic are backend-independent; fit itself is tested everywhere).
ONE_BACKEND = {"docs/tuning.md": "torch", "keras_trt/tuning.py:tuning": "torch"}


def skip_unless_one_backend(key):
    """Skips the current test unless it is `key`'s one backend (or `key` has none)."""
    import pytest

    home = ONE_BACKEND.get(key)
    if home is not None and home != BACKEND:
        pytest.skip(f"{key}: runs in the {home} process only (CI time)")
