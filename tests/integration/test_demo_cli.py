"""`socialdesk demo` serves the page until stopped: the address is printed, the cards arrive, Ctrl-C ends it cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_page_address_and_serves_the_cards(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "DISPLAY": ""}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", "--no-browser"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        assert "open http://127.0.0.1:" in first, first + process.stderr.read()
        url = first.split("open ", 1)[1].split()[0].rstrip("/")
        with requests.Session() as http:
            http.trust_env = False
            assert "socialdesk demo" in http.get(url + "/", timeout=10).text
            assert http.get(url + "/static/demo.js", timeout=10).status_code == 200
            deadline = time.monotonic() + 60
            while True:
                state = http.get(url + "/api/state", timeout=10).json()
                if len(state["messages"]) >= 7:
                    break
                assert time.monotonic() < deadline, state["messages"]
                time.sleep(0.2)
        assert {p["author"]["username"] for p in state["x"]["posts"]} >= {"maya_travels", "devon_builds"}
        assert len(state["facebook"]["posts"][0]["comments"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-3000:]
    assert "demo stopped" in out and "Traceback" not in err
