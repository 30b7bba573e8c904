"""A triage model that cannot load is a clear error at start-up, never a silent retrain."""
from __future__ import annotations

import os
import subprocess
import sys

import joblib
import pytest

from bot.triage import model as model_mod
from tests.helpers import ROOT



@pytest.fixture
def fresh_model():
    """Forget the loaded model around the test, so the next get_model() reads the file again."""
    model_mod.set_model(None)
    yield
    model_mod.set_model(None)


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "broken.joblib"
    path.write_bytes(b"not a pickle at all")
    return path


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda tmp: tmp / "missing.joblib", "is missing"),
        (_garbage, "could not be read"),
        (lambda tmp: joblib.dump({"not": "a model"}, tmp / "dict.joblib") and tmp / "dict.joblib", "holds a dict"),
    ],
    ids=["missing", "garbage", "wrong-type"],
)
def test_a_model_that_cannot_load_raises_naming_the_file_and_the_fix(make, says, tmp_path, monkeypatch, fresh_model):
    path = make(tmp_path)
    monkeypatch.setenv(model_mod.MODEL_ENV, str(path))
    with pytest.raises(model_mod.ModelLoadError) as error:
        model_mod.get_model()
    assert str(path) in str(error.value) and says in str(error.value) and "socialdesk train" in str(error.value)
    assert model_mod._model is None  # nothing was trained in its place


def test_a_model_from_another_scikit_learn_is_refused_not_retrained(tmp_path, monkeypatch, fresh_model):
    shipped = model_mod.load_model(model_mod.MODEL_PATH)
    shipped.meta = {**shipped.meta, "sklearn_version": "0.1.0"}
    path = tmp_path / "old.joblib"
    joblib.dump(shipped, path)
    monkeypatch.setenv(model_mod.MODEL_ENV, str(path))
    with pytest.raises(model_mod.ModelLoadError, match=r"scikit-learn 0\.1\.0"):
        model_mod.get_model()


def test_the_triage_package_does_not_import_training():
    """Inference never pulls in the fitting code (no cycle, nothing that could retrain)."""
    code = "import sys, bot.triage, bot.triage.model; bot.triage.classify('@acme my parcel is lost'); " \
           "print(sorted(m for m in sys.modules if m.startswith('bot.triage.training')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_stops_at_start_up_when_the_model_cannot_load(tmp_path):
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
        "SOCIALDESK_CHANNEL": "C0CASES", "DATABASE_URL": f"sqlite:///{tmp_path / 'sd.db'}", "PORT": "0",
        model_mod.MODEL_ENV: str(_garbage(tmp_path)),
    }
    out = subprocess.run([sys.executable, "-m", "bot.cli", "run"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "cannot start" in out.stderr and str(tmp_path / "broken.joblib") in out.stderr and "socialdesk train" in out.stderr
    assert "Traceback" not in out.stderr
