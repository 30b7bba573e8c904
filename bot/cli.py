"""The `socialdesk` command: run, demo, check, db upgrade, classify, train."""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, StartupError, load_settings

log = logging.getLogger("socialdesk")


METRICS_DIR_PREFIX = "socialdesk-metrics-"


def shared_metrics_dir() -> None:
    """One directory where `socialdesk run`'s processes keep their metrics, so /metrics adds them up (bot.metrics).

    Set before prometheus_client is imported. A directory an operator set is used
    as it is; otherwise one per process tree under the temp directory, and those of
    processes that are gone (a kill -9 leaves them) are removed.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    root = Path(tempfile.gettempdir())
    for old in root.glob(METRICS_DIR_PREFIX + "*"):
        pid = old.name.removeprefix(METRICS_DIR_PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / f"{METRICS_DIR_PREFIX}{os.getpid()}"
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mine)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socialdesk", description="Answer customers on X and Facebook from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (HTTP or Socket Mode, plus the scheduler)")
    run.add_argument("--role", choices=["web", "worker", "all"], default="all", help="web: HTTP only; worker: scheduler only")
    demo = sub.add_parser("demo", help="the whole loop offline as a local page: emulated Slack, X and Facebook")
    demo.add_argument("--no-browser", action="store_true", help="print the page's address without opening a browser")
    demo.add_argument("--script", action="store_true", help="run the whole loop unattended, print each step and exit (CI)")
    demo.add_argument("--keep-running", action="store_true", help="with --script: keep the emulators and bot up after it")
    demo.add_argument("--screenshots", metavar="DIR", help="drive the page in headless Chromium, save screenshots in DIR, exit")
    sub.add_parser("check", help="validate configuration and credentials")
    db = sub.add_parser("db", help="database commands")
    db.add_argument("action", choices=["upgrade"])
    sub.add_parser("classify", help="triage posts from stdin (text or JSON lines) as JSON lines")
    train = sub.add_parser("train", help="retrain the triage model from shipped data plus the team's corrections")
    train.add_argument("--evaluate", action="store_true", help="print cross-validated quality instead")
    train.add_argument("--encoder", action="store_true", help="fine-tune the encoder too (needs the train extra, ~3 min)")
    train.add_argument("--out", help="where to write the model (default: the one the bot loads)")
    args = parser.parse_args(argv)

    try:
        if args.command == "run":
            shared_metrics_dir()
            from bot.serve import run as run_bot

            return run_bot(role=args.role)
        if args.command == "demo":
            if args.screenshots:
                from bot.demo_shots import take_screenshots

                return take_screenshots(args.screenshots)
            if args.script:
                from bot.demo import run_demo

                return run_demo(keep_running=args.keep_running)
            from bot.demo_page import serve

            return serve(open_browser=not args.no_browser)
        if args.command == "check":
            from bot.check import run_checks

            return run_checks()
        if args.command == "db":
            from storage.db import Database

            settings = load_settings()
            Database(settings.database_url).upgrade()
            print(f"database is up to date ({_safe_url(settings.database_url)})")
            return 0
        if args.command == "classify":
            return classify(sys.stdin, sys.stdout)
        if args.command == "train":
            return train_model(evaluate=args.evaluate, out=args.out, encoder=args.encoder)
    except ConfigError as exc:
        print(f"socialdesk: configuration problem:\n{exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from bot.triage.model import ModelLoadError  # already imported if it is one: cheap here

        if not isinstance(exc, ModelLoadError):
            raise
        print(f"socialdesk: cannot start: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"socialdesk: {exc}", file=sys.stderr)
        return 3
    return 1


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_COUNTS = ("followers", "engagement", "prior_complaints")


def _post_fields(data: dict) -> dict:
    """The optional numbers and kind of a JSON line; ValueError names the field that is wrong."""
    from bot.domain.routing import NOT_ADDRESSED

    fields = {}
    for key in _COUNTS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())  # "48000" was always accepted
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 or value == float("inf"):
            raise ValueError(f'"{key}" must be a whole number of at least 0, not {json.dumps(value, ensure_ascii=False)[:40]}')
        fields[key] = int(value)
    kind = data.get("kind", "mention")
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f'"kind" must be a post kind such as "mention", "comment" or {", ".join(map(repr, sorted(NOT_ADDRESSED)))}')
    fields["kind"] = kind.strip()
    return fields


def classify(lines, out) -> int:
    """One post per line (plain text or JSON with `text`) in, one JSON object per line out.

    A line that cannot be read gets an error object naming the problem, and
    the lines after it are still classified.
    """
    from bot.config import load_file_config
    from bot.domain.routing import decide
    from bot.triage import classify as triage

    routing = load_file_config(load_settings().socialdesk_config).routing
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        text, extra, fields = line, {}, {"kind": "mention"}
        if line.lstrip().startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                out.write(json.dumps({"line": number, "error": f"invalid JSON: {exc.msg}"}) + "\n")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                out.write(json.dumps({"line": number, "error": 'JSON lines need a "text" string'}) + "\n")
                continue
            extra = {k: data[k] for k in ("id",) if k in data}
            try:
                fields = _post_fields(data)
            except ValueError as exc:
                out.write(json.dumps({**extra, "line": number, "error": str(exc)}, ensure_ascii=False) + "\n")
                continue
            text = data["text"]
        kind = fields.pop("kind")
        try:
            result = triage(text, **fields)
        except Exception as exc:  # noqa: BLE001 - one bad post must not lose the rest of the input
            log.exception("could not classify line %s", number)
            out.write(json.dumps({**extra, "line": number, "error": f"could not classify: {type(exc).__name__}"}) + "\n")
            continue
        out.write(
            json.dumps(
                {
                    **extra,
                    "text": text,
                    "category": result.category,
                    "priority": result.priority,
                    "sentiment": round(result.sentiment, 3),
                    "severity": result.severity,
                    "score": round(result.score, 3),
                    "topic": result.topic,
                    "reasons": list(result.reasons),
                    "route": decide(result, kind=kind, routing=routing),
                    "language": result.language,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        out.flush()
    return 0


def train_model(*, evaluate: bool, out: str | None = None, encoder: bool = False) -> int:
    from bot.triage.training import train as trainer

    if evaluate:
        return trainer.main(["--evaluate"] + (["--encoder"] if encoder else []))
    settings = load_settings()
    corrections = []
    try:
        from bot.domain.corrections import stored_corrections
        from storage.db import Database

        corrections = stored_corrections(Database(settings.database_url))
    except SQLAlchemyError:
        print(f"no socialdesk database at {_safe_url(settings.database_url)} yet: training on the shipped data only")
    if encoder:
        bar, update = trainer.progress_bar("fine-tuning the encoder")
        with bar:
            model = trainer.train(corrections, path=out, encoder=True, progress=update)
    else:
        model = trainer.train(corrections, path=out)
    print(f"model retrained with {len(corrections)} stored corrections from the team")
    if model.encoder is None:
        print("complaints are scored by the n-gram model alone (no encoder loaded)")
    elif not encoder:
        print("the encoder was kept as it was; `socialdesk train --encoder` fine-tunes it on the corrections too")
    return 0


if __name__ == "__main__":
    sys.exit(main())
