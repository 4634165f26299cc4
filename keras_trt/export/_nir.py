"""The lazy `nir` import and the conventions shared by the NIR export and import."""

import importlib

__all__ = ["DEFAULT_DT", "require_nir"]

# The time step, in seconds, that one keras-trt timestep stands for in a NIR graph. 1e-4 s
# is the step snnTorch's NIR import assumes (it cannot be told another), so graphs
# exported with the default run there unchanged.
DEFAULT_DT = 1e-4


def require_nir(caller):
    """Imports and returns the `nir` package, or raises an ImportError naming the extra."""
    try:
        return importlib.import_module("nir")
    except ImportError as error:
        raise ImportError(
            f"{caller} needs the `nir` package: pip install \"keras-trt[deploy]\" "
            "(or pip install nir).") from error
