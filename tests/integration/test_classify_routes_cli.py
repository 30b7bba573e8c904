"""`socialdesk classify` as a team runs it on a sample: route and language per line, bad lines don't lose the rest."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def classify(stdin: str, *, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "classify"], input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_each_line_gets_a_route_and_a_language_and_a_bad_field_is_an_error_on_its_line_only(tmp_path):
    lines = [
        json.dumps({"id": 1, "text": "@acme my order never arrived", "followers": "many"}),
        json.dumps({"id": 2, "text": "@acme my order never arrived", "followers": 48000, "engagement": "12"}),
        "@acme mi pedido nunca llegó y nadie responde",
        "@acme just landed in Paris",
        json.dumps({"text": "FREE FOLLOWERS!!! click here to win"}),
        json.dumps({"text": "@acme 🙂", "engagement": -3}),
        json.dumps({"text": "saw an acme van today", "kind": "search"}),
        json.dumps({"text": "x", "kind": 7}),
        json.dumps({"text": "great, another outage. cool cool cool", "prior_complaints": True}),
        "still waiting…",
    ]
    result = classify("\n".join(lines) + "\n", env={"SOCIALDESK_CONFIG": str(tmp_path / "none.toml")})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert rows[0] == {"id": 1, "line": 1, "error": rows[0]["error"]} and '"followers"' in rows[0]["error"] and "many" in rows[0]["error"]
    assert rows[1]["id"] == 2 and rows[1]["route"] == "card" and rows[1]["language"] == "en" and "48k followers" in rows[1]["reasons"]
    assert rows[2]["route"] == "card" and rows[2]["language"] == "es" and "triage not trained on this language" in rows[2]["reasons"]
    assert rows[3]["category"] == "other" and rows[3]["route"] == "lane"
    assert rows[4]["category"] == "spam" and rows[4]["route"] == "hidden"
    assert "engagement" in rows[5]["error"] and rows[5]["line"] == 6
    assert rows[6]["route"] == "lane"
    assert "kind" in rows[7]["error"]
    assert "prior_complaints" in rows[8]["error"]
    assert rows[9]["category"] == "complaint" and rows[9]["route"] == "card"
    for row in rows:
        assert "error" in row or {"category", "priority", "sentiment", "route", "language"} <= row.keys()


def test_routing_in_the_config_file_is_what_classify_applies(tmp_path):
    config = tmp_path / "socialdesk.toml"
    config.write_text('[routing]\ncard = ["complaint"]\nsearch = "hidden"\n')
    lines = ["@acme how do I change my delivery address?", json.dumps({"text": "saw an acme van today", "kind": "search"})]
    result = classify("\n".join(lines), env={"SOCIALDESK_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["route"] for r in rows] == ["lane", "hidden"]
    config.write_text('[routing]\nsearch = "nowhere"\n')
    bad = classify("hello", env={"SOCIALDESK_CONFIG": str(config)})
    assert bad.returncode == 2 and "[routing] search" in bad.stderr
