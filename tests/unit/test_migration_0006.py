"""Migration 0006 (network_spend, posts.reply_blocker): existing posts stay answerable, and it downgrades cleanly."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.script import ScriptDirectory

from storage.db import alembic_config, upgrade


def test_0006_keeps_existing_posts_answerable_and_downgrades_cleanly(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "insert into posts (id, network, external_id, kind, text, url, author_external_id, author_handle, author_name,"
            " author_followers, conversation_id, in_reply_to_id, engagement, context, category, visibility, created_at,"
            " ingested_at, slack_state) values (1, 'x', '17', 'mention', 'hi', '', '9', 'sam', 'Sam', 0, '17', '', 0, '',"
            " 'other', 'visible', '2026-03-09 10:00:00', '2026-03-09 10:00:00', 'pending')"
        ))
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select id, reply_blocker from posts")).all() == [(1, None)]
        connection.execute(sqlalchemy.text("select count(*) from network_spend")).scalar_one()
    config = alembic_config(engine)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1  # one head
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    inspector = sqlalchemy.inspect(engine)
    assert "network_spend" not in inspector.get_table_names()
    assert "reply_blocker" not in {c["name"] for c in inspector.get_columns("posts")}
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select id, text from posts")).all() == [(1, "hi")]
    engine.dispose()
