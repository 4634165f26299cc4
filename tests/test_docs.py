"""Every code block in README.md and docs/*.md runs (on the current backend).

- ```python blocks of one file run in order in one namespace, in a temporary folder; a
  `print(...)  # (2, 5)` line must print what its comment states (tests/doc_examples.py).
- ```bash blocks: `pip install ...` lines are checked, not run (the extras they name must
  exist in pyproject.toml and the command after `&&` must name a file in the repo); other
  lines run in a subprocess from the repository root.
- ```text blocks are prose (layouts, commands that need real datasets) and never run.
"""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.doc_examples import run_example
from tests.support import skip_unless_one_backend

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path, language):
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def doc_ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", [p for p in DOC_FILES if blocks(p, "python")],
                         ids=doc_ids([p for p in DOC_FILES if blocks(p, "python")]))
def test_python_blocks_run(path, tmp_path, monkeypatch):
    skip_unless_one_backend(str(path.relative_to(ROOT)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(path, "python")):
        run_example(code, namespace, f"{path.name}[python block {i}]")


EXTRAS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
             ["optional-dependencies"])


def _check_install_line(line):
    install, _, rest = line.partition("&&")
    extras = re.search(r"\[([\w,\-]+)\]", install)
    if extras:
        unknown = set(extras.group(1).split(",")) - EXTRAS
        assert not unknown, f"unknown extras {unknown} in: {line}"
    if rest.strip():
        words = [w for w in shlex.split(rest) if not re.match(r"^\w+=", w)]
        files = [w for w in words if w.endswith((".py", ".sh"))]
        assert files and all((ROOT / f).exists() for f in files), f"missing script in: {line}"


BASH_DOCS = [p for p in DOC_FILES if blocks(p, "bash")]


@pytest.mark.backend_independent
@pytest.mark.parametrize("path", BASH_DOCS, ids=doc_ids(BASH_DOCS))
def test_bash_blocks_run(path):
    for code in blocks(path, "bash"):
        for line in code.strip().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("pip install"):
                _check_install_line(line)
                continue
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            command = line.replace("python ", f"{shlex.quote(sys.executable)} ", 1)
            out = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=600)
            assert out.returncode == 0, f"{path.name}: `{line}` failed:\n{out.stderr[-3000:]}"
