"""Grouping quality on the labelled stream tests/data/incident_set.jsonl (three crises in normal traffic).

Replays the stream in time order through the real incident domain on a SQLite file:
each post is triaged (the default triage), stored as a case, offered to the open
incidents, and spike detection runs every 10 s of stream time. Prints:
  - posts of each crisis that joined an incident of that crisis (right incident),
  - unrelated posts swallowed by an incident (and safety/legal ones: must be 0),
  - crises split over more than one incident,
next to a minimal baseline measured in the same run: "one incident per triage topic"
(every complaint with the crisis's triage topic joins), which is what grouping by the
existing topic field alone would do.

    python bench/bench_grouping.py [--no-triage]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from bot.config import IncidentsConfig  # noqa: E402
from bot.domain import incidents  # noqa: E402
from bot.triage import classify  # noqa: E402
from bot.triage.rules import detect_topic  # noqa: E402
from storage import models as m  # noqa: E402
from storage.db import Database  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "incident_set.jsonl"
START = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def load() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def replay(rows: list[dict], *, triage: bool, config: IncidentsConfig | None = None) -> dict[int, int | None]:
    """Post id -> incident id (or None) after replaying the stream."""
    config = config or IncidentsConfig()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        _history(db, rows)
        next_detect = 0.0
        case_of: dict[int, int] = {}
        for row in rows:
            now = START + timedelta(seconds=row["at"])
            while row["at"] >= next_detect:
                with db.session() as session:
                    incidents.detect(session, channel="C1", config=config, now=START + timedelta(seconds=next_detect))
                    for incident in session.scalars(select(m.Incident).where(m.Incident.status == "open")):
                        incidents.learn(session, incident)
                next_detect += 10
            category = classify(row["text"]).category if triage else row["category"]
            if category not in ("complaint", "question", "praise"):
                continue  # spam/other: no card, so no question of joining
            with db.session() as session:
                case = m.Case(network=row["network"], author_external_id=row["author"], category=category, channel="C1", created_at=now)
                session.add(case)
                session.flush()
                session.add(m.Post(network=row["network"], external_id=str(row["id"]), case_id=case.id, text=row["text"],
                                   author_external_id=row["author"], slack_state="pending", created_at=now, ingested_at=now))
                session.flush()
                incidents.place(session, [case.id], threshold=config.join_score)
                case_of[row["id"]] = case.id
        with db.session() as session:
            where = dict(session.execute(select(m.Case.id, m.Case.incident_id)).all())
        db.dispose()
    return {post_id: where.get(case_id) for post_id, case_id in case_of.items()}


def _history(db: Database, rows: list[dict], weeks: int = 4) -> None:
    """The past weeks at the same hours: the normal traffic again, so the baseline knows what is usual."""
    with db.session() as session:
        for k in range(1, weeks + 1):
            for row in rows:
                if row["topic"] == "none":
                    at = START + timedelta(seconds=row["at"]) - timedelta(weeks=k)
                    session.add(m.Case(network=row["network"], author_external_id=row["author"], category="complaint", channel="C1",
                                       status="answered", created_at=at))


def score(rows: list[dict], placed: dict[int, int | None]) -> dict:
    by_crisis: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        if row["topic"] != "none" and placed.get(row["id"]):
            by_crisis[row["topic"]][placed[row["id"]]] += 1
    # each crisis's incident is the one most of its posts joined; an incident serves one crisis
    owner = {}
    for crisis, counts in by_crisis.items():
        incident, _ = counts.most_common(1)[0]
        owner.setdefault(incident, crisis)
    right = sum(1 for row in rows if row["topic"] != "none" and owner.get(placed.get(row["id"])) == row["topic"])
    crisis_posts = sum(1 for row in rows if row["topic"] != "none" and row["id"] in placed)
    unrelated = [row for row in rows if row["topic"] == "none" and row["id"] in placed]
    swallowed = [row for row in unrelated if placed[row["id"]]]
    urgent_swallowed = [row for row in swallowed if row["urgent"]]
    splits = sum(1 for counts in by_crisis.values() if len([n for n in counts.values() if n >= 10]) > 1)
    return {
        "crisis_posts": crisis_posts, "right": right, "unrelated": len(unrelated), "swallowed": len(swallowed),
        "urgent_total": sum(1 for row in unrelated if row["urgent"]), "urgent_swallowed": len(urgent_swallowed),
        "crises": len(by_crisis), "split": splits, "incidents": len({i for c in by_crisis.values() for i in c}),
        "examples_swallowed": [row["text"] for row in swallowed[:5]],
    }


def topic_baseline(rows: list[dict]) -> dict[int, int | None]:
    """One incident per triage topic during each crisis's time span: what the existing topic field gives."""
    spans = {}
    for row in rows:
        if row["topic"] != "none":
            lo, hi = spans.get(row["topic"], (row["at"], row["at"]))
            spans[row["topic"]] = (min(lo, row["at"]), max(hi, row["at"]))
    placed = {}
    for row in rows:
        topic = detect_topic(row["text"])
        active = [c for c, (lo, hi) in spans.items() if lo <= row["at"] <= hi]
        placed[row["id"]] = hash((topic, tuple(active))) % 10_000 + 1 if active and topic != "general" else None
    return placed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-triage", action="store_true", help="use the set's own category labels instead of triage (faster)")
    args = parser.parse_args()
    rows = load()
    started = time.perf_counter()
    ours = score(rows, replay(rows, triage=not args.no_triage))
    elapsed = time.perf_counter() - started
    base = score(rows, topic_baseline(rows))
    print(f"labelled stream: {len(rows)} posts, {sum(r['topic'] != 'none' for r in rows)} in 3 crises, "
          f"{sum(r['topic'] == 'none' for r in rows)} unrelated ({sum(bool(r['urgent']) for r in rows)} safety/legal)")
    print(f"{'':28}{'incidents':>12}{'topic baseline':>16}")
    for label, key in (("crisis posts seen", "crisis_posts"), ("joined the right incident", "right"), ("unrelated posts seen", "unrelated"),
                       ("unrelated swallowed", "swallowed"), ("safety/legal swallowed", "urgent_swallowed"), ("crises split in two", "split")):
        print(f"{label:28}{ours[key]:>12}{base[key]:>16}")
    print(f"replay took {elapsed:.1f}s; swallowed examples: {ours['examples_swallowed']}")


if __name__ == "__main__":
    main()
