"""X's weighted length, and that counting it needs no setuptools at run time."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.domain.replylength import weighted_length
from tests.helpers import ROOT



@pytest.mark.parametrize(
    "text, length",
    [
        ("a" * 280, 280),
        ("see https://example.com/a/very/long/path/that/is/much/longer/than/twenty/three", 4 + 23),
        ("日本語", 6),                # CJK counts 2
        ("thanks 👍🏽", 7 + 2),       # an emoji sequence counts 2, whatever its code points
        ("café", 4),                  # NFC: the accent is not a character of its own
    ],
)
def test_weighted_length_counts_as_x_does(text, length):
    assert weighted_length(text) == length


def test_counting_works_where_setuptools_no_longer_ships_pkg_resources():
    """setuptools 82 removed pkg_resources; `None` in sys.modules makes its import fail the same way."""
    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"
        "from bot.domain.replylength import weighted_length\n"
        "assert sys.modules['pkg_resources'] is None, 'the stand-in leaked'\n"
        "print(weighted_length('日本 https://example.com 👍'))\n"
    )
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(4 + 1 + 23 + 1 + 2)
