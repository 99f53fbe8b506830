"""The action table is the one place keys are declared: the menus, the Keys dialog and the
README's key table all come from it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PySide6.QtGui import QKeySequence

from gui.actions import ACTIONS, TAG_KEYS, key_rows, key_table_html, key_table_markdown
from gui.main_window import MainWindow
from gui.menus import key_sequence
from model.tags import TAGS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_key_table_is_the_action_tables() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("| key | action |")
    end = text.index("\n\n", start)
    assert text[start:end] == key_table_markdown()


def test_every_tag_has_one_key_and_no_key_does_two_things(qapp) -> None:
    assert set(TAG_KEYS) == set(TAGS)
    keys = [
        key_sequence(k).toString(QKeySequence.SequenceFormat.PortableText)
        for spec in ACTIONS
        for k in spec.keys
    ]
    assert all(keys)
    twice = [k for k, n in Counter(keys).items() if n > 1]
    assert twice == []


def test_the_window_has_every_action_in_its_menu_with_its_keys(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path))
    window = MainWindow()
    qtbot.addWidget(window)
    assert set(window.actions_by_id) == {spec.id for spec in ACTIONS}
    in_menus = set()
    pending = list(window.menuBar().actions())
    while pending:
        action = pending.pop()
        if action.menu() is not None:
            pending.extend(action.menu().actions())
        else:
            in_menus.add(action.objectName())
    assert {spec.id for spec in ACTIONS} <= in_menus
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Edit", "Review", "View", "Model", "Help"]
    for spec in ACTIONS:
        action = window.actions_by_id[spec.id]
        assert [s.toString() for s in action.shortcuts()] == [
            key_sequence(k).toString() for k in spec.keys
        ], spec.id
    # Without a folder only what needs none is enabled.
    assert window.actions_by_id["open_folder"].isEnabled()
    assert not window.actions_by_id["next_suspect"].isEnabled()
    assert not window.actions_by_id["undo"].isEnabled()


def test_keys_dialog_lists_every_row_of_the_table() -> None:
    html = key_table_html()
    for keys, what in key_rows():
        assert keys.replace("`", "") in html and what in html
