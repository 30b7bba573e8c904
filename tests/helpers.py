"""Helpers the tests share: the repository root, and the moves a person makes on the emulated stack."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "payloads"
