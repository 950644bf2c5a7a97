"""A dispatching process for the fault tests: runs ticks, and kills itself (SIGKILL) at a chosen
point when told to. The points are reached by wrapping the dispatcher's own steps, so production
code carries no fault hooks.

usage: python dispatch_worker.py PROJECT_DIR DB_URL AS_OF KILL_AT OCCURRENCE LEASE_SECONDS
KILL_AT: none | after_claim | after_sending_mark | after_accept
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect_journeys.definition.project import Project
from prefect_journeys.engine import dispatch
from prefect_journeys.engine.tick import run_tick
from prefect_journeys.store.database import make_engine


def die_on(owner: Any, name: str, occurrence: int, before: bool = False) -> None:
    original = getattr(owner, name)
    seen = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if before and seen[0] == occurrence:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if not before and seen[0] == occurrence:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


def main() -> None:
    project, url, as_of, kill_at, occurrence, lease = sys.argv[1:7]
    n = int(occurrence)
    if kill_at == "after_claim":  # claimed and committed, nothing decided
        die_on(dispatch.Dispatcher, "_claimed", n)
    elif kill_at == "after_sending_mark":  # 'sending' committed, provider not yet called
        die_on(dispatch.Dispatcher, "_send_remote", n, before=True)
    elif kill_at == "after_accept":  # the provider accepted, our outcome not yet recorded
        original = dispatch.Dispatcher.channel_for

        def channel_for(self: Any, ref: str, channel: str) -> Any:
            opened = original(self, ref, channel)
            if not getattr(opened, "_wrapped", False) and ref != "outbox":
                die_on(opened, "send_batch", n)
                opened._wrapped = True
            return opened

        dispatch.Dispatcher.channel_for = channel_for  # type: ignore[method-assign]
    plan_source = Project.load(Path(project))
    (journey_id,) = plan_source.journeys
    engine = make_engine(url)
    run_tick(
        engine,
        plan_source.plan(journey_id),
        datetime.fromisoformat(as_of),
        batch_size=4,
        lease=timedelta(seconds=float(lease)),
        signing_key=b"test-signing-key",
    )


if __name__ == "__main__":
    main()
