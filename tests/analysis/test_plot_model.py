"""`keras.utils.plot_model` of a SpikingModel: the `analysis` extra brings pydot, which
Keras draws the graph with (the picture itself also needs Graphviz's `dot` program, a
system package: docs/analyses.md)."""

import re
import tomllib
from pathlib import Path

import keras
import pytest

from tests.analysis.models import mlp_snn

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.backend_independent


def _names(requirements):
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_analysis_extra_brings_pydot_pinned_for_ci():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert {"matplotlib", "pydot"} <= _names(extras["analysis"])
    for constraints in ("constraints.txt", "constraints-lowest.txt"):
        pins = (ROOT / constraints).read_text().splitlines()
        assert [line for line in pins if re.fullmatch(r"pydot==[\d.]+", line)], constraints


def test_model_to_dot_draws_every_layer_of_a_spiking_model():
    pytest.importorskip("pydot", reason="installed by the `analysis` extra")
    model = mlp_snn(bn=True)
    dot = keras.utils.model_to_dot(model, show_shapes=True)
    labels = " ".join(str(node.get_label()) for node in dot.get_nodes())
    for layer in model.layers:
        assert layer.name in labels, layer.name
    assert "LIF" in labels and "TemporalBatchNorm" in labels
