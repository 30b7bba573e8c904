"""Migration 0011 (incident page DMs, charts owed): new tables that match the models, one head, and a clean downgrade."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import models
from storage.db import alembic_config, upgrade

NEW = {"incident_pages", "incident_charts"}


def test_0011_adds_the_page_and_chart_tables_as_the_models_say_and_downgrades_cleanly(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0010")
    with engine.begin() as connection:  # an incident charted before: it keeps its mark and gets no second chart
        connection.execute(sqlalchemy.text(
            "insert into incidents (id, status, title, origin, profile, channel, changed, created_at, chart_opened_at)"
            " values (1, 'open', 'checkout down', 'spike', '{}', 'C1', 1, '2026-11-30 10:00:00', '2026-11-30 10:01:00')"))
    upgrade(engine, "0011")
    assert NEW <= set(sqlalchemy.inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select chart_opened_at from incidents")).scalar() is not None
        diffs = compare_metadata(MigrationContext.configure(connection), models.Base.metadata)
        assert not [d for d in diffs if any(name in str(d) for name in NEW)], diffs  # the models and the migration agree
    config = alembic_config(engine)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    assert not NEW & set(sqlalchemy.inspect(engine).get_table_names())
    engine.dispose()
