"""The orchestration benchmark's bookkeeping: calibration halves keep the task mix, the
held-out verdict is per direction, and its section replaces only itself in results.md."""

from __future__ import annotations

from benchmarks.bench_calibration import halves, random_splits, rows
from benchmarks.bench_orchestration import HEADING, replace_section


def test_halves_keep_the_mix_of_tasks():
    labelled = [{"task": t} for t in ["code"] * 5 + ["email"] * 4 + ["code"]]
    first, second = halves(labelled)
    tasks = lambda idx: sorted(labelled[i]["task"] for i in idx)  # noqa: E731
    assert tasks(first) == ["code"] * 3 + ["email"] * 2
    assert tasks(second) == ["code"] * 3 + ["email"] * 2
    assert sorted(first + second) == list(range(10))


def test_random_splits_measure_each_budget_and_a_miss_fails():
    labelled = [{"task": "code" if i % 3 else "email"} for i in range(60)]
    scores = [-(i % 17) / 3 for i in range(60)]
    deviations = random_splits(labelled, scores, count=20)
    assert set(deviations) == {0.1, 0.2, 0.3} and all(len(d) == 20 for d in deviations.values())
    result = {"per_budget": {0.1: [(-3.0, 0.1, 0.12), (-3.1, 0.1, 0.16)],
                             0.2: [(-2.0, 0.2, 0.2), (-2.1, 0.2, 0.18)],
                             0.3: [(-1.0, 0.3, 0.3), (-1.1, 0.3, 0.31)]},
              "splits": deviations, "halves": (30, 30)}
    verdicts = [r.verdict for r in rows(result) if r.metric.startswith("Escalation share")]
    assert verdicts == ["FAIL", "pass", "pass"]   # 16 % is 6 points off a 10 % budget
    assert all("|" not in r.scalpel + r.reference for r in rows(result))


def test_the_section_replaces_only_itself():
    document = "# Suite\n\ntable\n\n## Notes\n\n- a note\n"
    first = replace_section(document, f"{HEADING}\n\nold figures\n")
    assert first == document + f"\n{HEADING}\n\nold figures\n"
    later = first + "\n## Another team's section\n\ntheirs\n"
    second = replace_section(later, f"{HEADING}\n\nnew figures\n")
    assert second == (document + f"\n{HEADING}\n\nnew figures\n"
                      "\n## Another team's section\n\ntheirs\n")
