"""Every ```python example in keras_trt's docstrings runs (on the current backend), and
prints what it says it prints (see tests/doc_examples.py)."""

from pathlib import Path

import pytest

from tests.doc_examples import code_blocks, docstrings, run_example
from tests.support import skip_unless_one_backend

PACKAGE = Path(__file__).resolve().parent.parent / "keras_trt"
EXAMPLES = [
    (f"{path.relative_to(PACKAGE.parent)}:{name}", code)
    for path in sorted(PACKAGE.rglob("*.py"))
    for name, doc in docstrings(path)
    for code in code_blocks(doc)
]


def test_examples_were_found():
    assert len(EXAMPLES) >= 30, [where for where, _ in EXAMPLES]


@pytest.mark.parametrize("where,code", EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_docstring_example_runs(where, code, tmp_path, monkeypatch):
    skip_unless_one_backend(where)
    monkeypatch.chdir(tmp_path)
    run_example(code, {"__name__": "__docstring__"}, where)


def test_a_wrong_stated_output_fails():
    run_example("print((2, 5))  # (2, 5)", {}, "right")
    run_example("print(0.60000001)  # 0.6, prose after it", {}, "rounded")
    with pytest.raises(AssertionError, match="states 2 6"):
        run_example("print((2, 5))  # (2, 6)", {}, "wrong")
    with pytest.raises(AssertionError, match="NameError"):
        run_example("print(model)", {}, "undefined name")
