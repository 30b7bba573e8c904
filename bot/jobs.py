"""What a scheduled job is; each domain's flows provide a list of them to the scheduler."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], object]
    trigger: str                     # "interval" or "cron"
    trigger_args: dict = field(default_factory=dict)
    run_at_start: bool = False
