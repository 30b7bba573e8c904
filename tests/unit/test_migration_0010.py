"""Migration 0010 (ingest stages): posts stored before it count as triaged, and it downgrades cleanly."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.script import ScriptDirectory

from storage.db import alembic_config, upgrade


def test_0010_marks_existing_posts_triaged_and_downgrades_cleanly(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0009")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "insert into posts (id, network, external_id, kind, text, url, author_external_id, author_handle, author_name,"
            " author_followers, conversation_id, in_reply_to_id, engagement, context, category, visibility, created_at,"
            " ingested_at, slack_state) values (1, 'x', '17', 'mention', 'hi', '', '9', 'sam', 'Sam', 0, '17', '', 0, '',"
            " 'other', 'visible', '2026-03-09 10:00:00', '2026-03-09 10:00:00', 'posted')"
        ))
    upgrade(engine)
    with engine.connect() as connection:
        # Triaged when it was stored: stage 2 must not pick it up again.
        assert connection.execute(sqlalchemy.text("select id, triage_state, triage_claim, verdict from posts")).all() == [(1, "done", None, "")]
    config = alembic_config(engine)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1  # one head
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    columns = {c["name"] for c in sqlalchemy.inspect(engine).get_columns("posts")}
    assert not columns & {"triage_state", "triage_claim", "triage_claimed_at", "triage_error", "verdict"}
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select id, text from posts")).all() == [(1, "hi")]
    engine.dispose()
