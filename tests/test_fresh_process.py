"""`sweep` and its children talk through a JSON answer, never scraped text."""

from __future__ import annotations

import sys

import pytest

from harness.errors import EdgebenchError
from harness.fresh_process import run_child


def _child(body: str) -> list[str]:
    """A child process running `body`, with `answer` bound to its answer file's path."""
    return [sys.executable, "-c", f"import json, sys\nanswer = sys.argv[-1]\n{body}"]


@pytest.mark.timeout(60)
def test_a_child_printing_200_kb_does_not_block_the_parent(capfd):
    answer = run_child(_child(
        "sys.stdout.write('x' * 100_000 + '\\n'); sys.stderr.write('y' * 100_000 + '\\n')\n"
        "json.dump({'run_dir': '/some/run', 'error': None, 'exit_code': 0}, open(answer, 'w'))"))
    assert answer["run_dir"] == "/some/run"
    relayed = capfd.readouterr().err
    assert relayed.count("x") == 100_000 and relayed.count("y") == 100_000


def test_the_childs_error_comes_from_its_answer_not_its_output():
    with pytest.raises(EdgebenchError, match="^no such dataset folder$"):
        run_child(_child(
            "print('edgebench: error: something else entirely')\n"
            "json.dump({'run_dir': None, 'error': 'no such dataset folder', 'exit_code': 2},"
            " open(answer, 'w')); sys.exit(2)"))


@pytest.mark.parametrize("body", [
    "open(answer, 'w').write('{not json')",
    "json.dump(['a', 'list'], open(answer, 'w'))",
    "import os; os.abort()",  # a crash: no answer at all
])
def test_a_malformed_or_missing_answer_is_that_cells_failure(body):
    with pytest.raises(EdgebenchError, match="no readable answer"):
        run_child(_child(body))
