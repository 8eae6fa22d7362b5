"""bench/recorded/results.json: every session's runs, merged, with the newest measurement winning.

A session is one `make bench`; it runs some groups (plan.Group) and appends a record per run.
For each cell the report uses the runs of one session only, the latest in which the cell's group
ran to the end (else the latest that ran it at all), so a partial re-run of some groups replaces
those rows and leaves the others as they were, each marked with the commit it was measured at.
Runs no cell uses any more are dropped on save.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 2
COMPLETE, INCOMPLETE = "complete", "incomplete"


@dataclass(frozen=True)
class Picked:
    """The runs of one cell the report uses: all from one session."""

    key: str
    session: dict[str, Any]
    runs: list[dict[str, Any]]
    complete: bool

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["ok"]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if not r["ok"]]

    @property
    def commit(self) -> str:
        return str(self.session.get("commit", "?")) + ("+" if self.session.get("dirty") else "")

    def median(self, field: str) -> float | None:
        return median_of(self.ok, field)

    def peak(self) -> float | None:
        return max((float(r["peak_rss_mb"]) for r in self.ok), default=None)


def median_of(runs: Iterable[dict[str, Any]], field: str) -> float | None:
    values = [float(r[field]) for r in runs if r.get(field) is not None]
    return statistics.median(values) if values else None


class Results:
    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.doc = doc or {"format": FORMAT, "sessions": [], "runs": [], "data": {}}

    @classmethod
    def load(cls, path: Path) -> Results:
        if not path.exists():
            return cls()
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(
                f"{path} is not a format-{FORMAT} bench results file (an older bench wrote "
                "it); move it aside, e.g. to bench/recorded/archive/, and run again"
            )
        return cls(doc)

    def save(self, path: Path) -> None:
        self.prune()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.doc, indent=1, default=str))
        tmp.replace(path)

    # -- sessions ----------------------------------------------------------------------------

    @property
    def sessions(self) -> list[dict[str, Any]]:
        return self.doc["sessions"]

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.doc["runs"]

    @property
    def data(self) -> dict[str, Any]:
        return self.doc["data"]

    def start_session(self, info: dict[str, Any]) -> dict[str, Any]:
        session = {
            "id": max((s["id"] for s in self.sessions), default=-1) + 1,
            "groups": {},
            "skipped": [],
            "minutes": 0.0,
            **info,
        }
        self.sessions.append(session)
        return session

    def session(self, sid: int) -> dict[str, Any]:
        return next(s for s in self.sessions if s["id"] == sid)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.sessions[-1] if self.sessions else None

    def add(self, session: dict[str, Any], record: dict[str, Any]) -> None:
        self.runs.append({"session": session["id"], **record})

    # -- what the report uses ----------------------------------------------------------------

    def pick(self, key: str) -> Picked | None:
        mine = [r for r in self.runs if r["cell"] == key]
        if not mine:
            return None
        by_session: dict[int, list[dict[str, Any]]] = {}
        for r in mine:
            by_session.setdefault(r["session"], []).append(r)

        def complete(sid: int) -> bool:
            group = by_session[sid][0]["group"]
            return self.session(sid)["groups"].get(group) == COMPLETE

        done = [sid for sid in by_session if complete(sid)]
        sid = max(done) if done else max(by_session)
        return Picked(key, self.session(sid), by_session[sid], sid in done)

    def measured_at(self, keys: Iterable[str], group: str, commit: str, reps: int) -> bool:
        """Has a clean session at `commit` run `group` to the end, every key `reps` times?"""
        for key in keys:
            p = self.pick(key)
            if p is None or not p.complete or p.session.get("dirty"):
                return False
            if p.session.get("commit") != commit or p.runs[0]["group"] != group:
                return False
            if len(p.runs) < reps:
                return False
        return True

    def prune(self) -> None:
        """Drop runs no cell uses; the latest session's stay (it may still be running)."""
        last = self.latest
        keep = {
            (p.key, p.session["id"])
            for p in map(self.pick, {r["cell"] for r in self.runs})
            if p is not None
        }
        self.doc["runs"] = [
            r
            for r in self.runs
            if (r["cell"], r["session"]) in keep
            or (last is not None and r["session"] == last["id"])
        ]
        used = {r["session"] for r in self.runs}
        self.doc["sessions"] = [
            s for s in self.sessions if s["id"] in used or (last is not None and s is last)
        ]

    def commits(self) -> list[str]:
        """Commits of the sessions still in use, oldest first."""
        return list(dict.fromkeys(s.get("commit", "?") for s in self.sessions))
