"""The quick run, ``pytest -m "not model"``, leaves out every test that needs a real model."""

from __future__ import annotations

from conftest import MODEL_FIXTURES, pytest_collection_modifyitems


class FakeItem:
    def __init__(self, *fixtures: str) -> None:
        self.fixturenames = ["scalpel_home", *fixtures]
        self.marks: list[str] = []

    def add_marker(self, mark) -> None:
        self.marks.append(mark.name)


def test_a_test_using_a_model_fixture_is_marked_and_no_other():
    items = [FakeItem(name) for name in sorted(MODEL_FIXTURES)] + [FakeItem("tmp_path")]
    pytest_collection_modifyitems(None, items)
    assert [item.marks for item in items] == [["model"]] * len(MODEL_FIXTURES) + [[]]


def test_no_test_in_this_run_uses_a_model_fixture_unmarked(request):
    unmarked = [item.nodeid for item in request.session.items
                if MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("model") is None]
    assert unmarked == []


def test_the_model_marker_is_registered(pytestconfig):
    assert any(line.startswith("model:") for line in pytestconfig.getini("markers"))
