"""Helpers for testing keras-trt models and what they export (not imported by `keras_trt`)."""
