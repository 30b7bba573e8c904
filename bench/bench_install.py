"""Install benchmark: what the README's first command costs on a fresh virtualenv.

Times `pip install .` (the light install the README starts with) in a new venv
with pip's cache warm, and the venv's size, next to the same figures for the
heavy install the README used to start with (`.[train]`: torch and
transformers), measured in the same run.

    python bench/bench_install.py [--skip-heavy]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            file = Path(dirpath) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total / 1e6


def install(spec: str, workdir: Path) -> tuple[float, float]:
    """(seconds, MB) of `pip install spec` into a fresh venv under workdir."""
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + ["--upgrade", "pip", "setuptools", "wheel"], check=True)  # as .ci/run does before installing
    base = size_mb(venv)
    started = time.perf_counter()
    subprocess.run(pip + [spec], check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    probe = "import importlib.util as u; print(bool(u.find_spec('torch')))"
    has_torch = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True).stdout.strip()
    print(f"  {spec}: {seconds:.0f} s, {size_mb(venv) - base:.0f} MB, torch installed: {has_torch}", flush=True)
    return seconds, size_mb(venv) - base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-heavy", action="store_true", help="measure only the light install")
    args = parser.parse_args()
    rows = []
    for spec in ["."] + ([] if args.skip_heavy else [".[train]"]):
        with tempfile.TemporaryDirectory(prefix="socialdesk-install-") as tmp:
            rows.append((spec, *install(spec, Path(tmp))))
    print(f"\n{'install':<48}{'seconds':>10}{'MB':>10}")
    for spec, seconds, mb in rows:
        label = "pip install " + spec + ("  (light, README)" if spec == "." else "  (what the old first command pulled)")
        print(f"{label:<48}{seconds:>10.0f}{mb:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
