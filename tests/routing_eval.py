"""Routing accuracy on tests/data/routing_requests.jsonl: shared by the routing tests and
benchmarks/bench_routing.py. Plain functions, no pytest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

LABELLED = Path(__file__).resolve().parent / "data" / "routing_requests.jsonl"


def load_requests(path: Path = LABELLED) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Tally:
    labels: list[str]
    matrix: dict[tuple[str, str], int] = field(default_factory=dict)  # (truth, chosen) -> n
    steps: dict[str, list[int]] = field(default_factory=dict)         # step -> [right, all]

    def add(self, truth: str, chosen: str, step: str) -> None:
        self.matrix[truth, chosen] = self.matrix.get((truth, chosen), 0) + 1
        right_all = self.steps.setdefault(step, [0, 0])
        right_all[0] += truth == chosen
        right_all[1] += 1

    @property
    def total(self) -> int:
        return sum(self.matrix.values())

    @property
    def accuracy(self) -> float:
        right = sum(n for (t, c), n in self.matrix.items() if t == c)
        return right / self.total if self.total else 0.0

    def step_accuracy(self, step: str) -> float:
        right, count = self.steps.get(step, [0, 0])
        return right / count if count else 0.0

    def report(self, title: str) -> str:
        width = max(len(label) for label in self.labels) + 1
        head = "truth \\ chosen".ljust(width + 4) + "".join(l[:9].rjust(10) for l in self.labels)
        lines = [f"{title}: {self.accuracy:.1%} of {self.total}", head]
        for truth in self.labels:
            cells = "".join(str(self.matrix.get((truth, c), 0)).rjust(10) for c in self.labels)
            lines.append(truth.ljust(width + 4) + cells)
        for step, (right, count) in sorted(self.steps.items()):
            lines.append(f"  decided by {step}: {count} ({right / count:.1%} right)")
        return "\n".join(lines)


def evaluate(router, rows: list[dict], **route_options) -> Tally:
    labels = sorted({r["task"] for r in rows})
    tally = Tally(labels)
    for row in rows:
        decision = router.route(row["text"], **route_options)
        tally.add(row["task"], decision.preset_id, decision.step)
    return tally
