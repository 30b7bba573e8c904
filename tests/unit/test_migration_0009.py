"""Migration 0009 (incident paging, split-by-network, chart uploads): existing incidents keep working, get no late chart, and it downgrades cleanly."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import models
from storage.db import alembic_config, upgrade

NEW = {"network", "acknowledged_by", "acknowledged_at", "escalated_at", "escalated_to", "chart_opened_at", "chart_resolved_at"}


def test_0009_keeps_open_incidents_unacknowledged_and_uncharted_and_downgrades_cleanly(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "insert into incidents (id, status, title, origin, profile, channel, changed, created_at)"
            " values (1, 'open', 'checkout down', 'spike', '{}', 'C1', 1, '2026-11-30 10:00:00')"))
        connection.execute(sqlalchemy.text(
            "insert into incidents (id, status, title, origin, profile, channel, changed, created_at, resolved_at)"
            " values (2, 'resolved', 'login broken', 'spike', '{}', 'C1', 1, '2026-11-29 10:00:00', '2026-11-29 11:00:00')"))
    upgrade(engine, "0009")
    with engine.connect() as connection:
        open_, resolved = connection.execute(sqlalchemy.text(f"select {', '.join(sorted(NEW))} from incidents order by id")).all()
        fresh = sorted(NEW - {"chart_opened_at", "chart_resolved_at"})
        assert {getattr(open_, c) for c in fresh} == {None} and {getattr(resolved, c) for c in fresh} == {None}
        # charted already: the open one gets its chart when resolved, the resolved one never again
        assert (open_.chart_opened_at is not None, open_.chart_resolved_at, resolved.chart_resolved_at is not None) == (True, None, True)
        assert not [d for d in compare_metadata(MigrationContext.configure(connection), models.Base.metadata)
                    if "incidents" in str(d)]  # the model and the migration agree
    config = alembic_config(engine)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert not NEW & {c["name"] for c in sqlalchemy.inspect(engine).get_columns("incidents")}
    engine.dispose()
