"""Helpers for testing keras-trt layers, models, data pipelines and what they export (not
imported by `keras_trt`; `pytest` is not needed).

- `run_layer_test`, `run_model_test`: the contract every Keras layer or model should keep
  (config round trip, symbolic and eager calls, a training step, mixed precision, a
  `.keras` round trip), checked in one call (keras_trt.testing.layer_test);
- `to_numpy`, `many_spike_input`, `randomise_bn_statistics`: arrays for assertions,
  inputs that make neurons fire, trained-like tdBN statistics (keras_trt.testing.arrays);
- `SimulatedCrash`: interrupts `fit` mid-epoch, to test resumption
  (keras_trt.testing.callbacks);
- keras_trt.testing.datasets: tiny datasets in their genuine on-disk formats;
- keras_trt.testing.nir_networks, keras_trt.testing.nir_consumers: NIR graphs and the
  external simulators that run them.

docs/testing.md shows them at work.
"""

from keras_trt.testing.arrays import many_spike_input, randomise_bn_statistics, to_numpy
from keras_trt.testing.callbacks import SimulatedCrash
from keras_trt.testing.layer_test import run_layer_test, run_model_test

__all__ = ["SimulatedCrash", "many_spike_input", "randomise_bn_statistics",
           "run_layer_test", "run_model_test", "to_numpy"]
