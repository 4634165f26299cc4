"""`python -m keras_trt.experiments COMMAND [flags]` (keras_trt.experiments.cli)."""

from keras_trt.experiments.cli import console_main

if __name__ == "__main__":
    raise SystemExit(console_main())
