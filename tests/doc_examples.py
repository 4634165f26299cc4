"""Running the code examples of docs and docstrings, and checking what they print.

A line `print(...)  # (2, 5, 16, 16, 8)` states its output: when the comment starts with
a literal (a number, or a bracketed group such as a shape or an array), the numbers of
those leading literals must equal the first numbers that line prints. Comments that start
with words are prose and are not checked. Numbers are compared with the precision the
comment shows (`0.6` matches 0.6000001), so a shape printed as `torch.Size([2, 5])` or
`(2, 5)` matches `# (2, 5)` on every backend.
"""

import ast
import contextlib
import io
import re

FENCE = re.compile(r"^[ \t]*```(\w+)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_LITERAL = r"(?:[\[(][\d\s.,eE+\-]*[\])]|[-+]?\d[\d.eE+\-]*)"
_LEADING_LITERALS = re.compile(rf"^\s*({_LITERAL}(?:\s+{_LITERAL})*)(?![\w/])")


def code_blocks(text, language="python"):
    """The bodies of the fenced blocks of `language` in `text`, dedented."""
    import textwrap
    return [textwrap.dedent(body) for lang, body in FENCE.findall(text) if lang == language]


def docstrings(path):
    """(qualified name, docstring) of the module, classes and functions in a .py file."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, prefix):
        doc = ast.get_docstring(node, clean=True)
        if doc:
            found.append((prefix, doc))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{prefix}.{child.name}")

    visit(tree, path.stem)
    return found


def expected_prints(code):
    """For each `print(` line of `code` in order: the stated leading numbers, or None."""
    expected = []
    for line in code.splitlines():
        if not line.lstrip().startswith("print("):
            continue
        _, hash_, comment = line.partition("#")
        match = _LEADING_LITERALS.match(comment) if hash_ else None
        expected.append(NUMBER.findall(match.group(1)) if match else None)
    return expected


def _same_number(stated, printed):
    decimals = len(stated.split(".")[1].rstrip("eE+-0123456789")) if "." in stated else 0
    if re.search(r"[eE]", stated) or re.search(r"[eE]", printed):
        return abs(float(stated) - float(printed)) <= 1e-6 * max(1.0, abs(float(stated)))
    return abs(float(stated) - float(printed)) <= 0.5 * 10.0 ** -decimals + 1e-12


def run_example(code, namespace, where):
    """Executes `code` in `namespace`; raises AssertionError naming `where` on a failure
    or on a printed line that differs from its stated output."""
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, where, "exec"), namespace)
    except Exception as error:
        raise AssertionError(f"{where} failed: {error!r}\n{code}") from error
    expected = expected_prints(code)
    if not any(e is not None for e in expected):
        return
    lines = [line for line in stdout.getvalue().splitlines() if line.strip()]
    if len(lines) != len(expected):
        # A print inside a loop, or a multi-line print: only single-line prints are checked.
        return
    for stated, line in zip(expected, lines):
        if stated is None:
            continue
        printed = NUMBER.findall(line)
        ok = len(printed) >= len(stated) and all(
            _same_number(s, p) for s, p in zip(stated, printed))
        assert ok, f"{where}: printed {line!r}, the example states {' '.join(stated)}"
