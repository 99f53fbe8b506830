"""Menus and shortcuts built from the action table (gui/actions.py), and their enablement."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from gui.actions import ACTIONS, CAN_REDO, CAN_UNDO, WITH_REVIEW
from model.review import Review


def build_actions(
    window: QMainWindow, handlers: dict[str, Callable[[], object]]
) -> dict[str, QAction]:
    """One QAction per row of the table, in its menu, with its keys; every id needs a handler."""
    menus: dict[str, QMenu] = {}
    built: dict[str, QAction] = {}
    for spec in ACTIONS:
        menu = _menu(window, menus, spec.menu)
        if spec.separator_before:
            menu.addSeparator()
        action = QAction(spec.text, window)
        action.setShortcuts([key_sequence(k) for k in spec.keys])
        action.triggered.connect(lambda _=False, run=handlers[spec.id]: run())
        window.addAction(action)  # window-wide shortcut, whichever child has focus
        menu.addAction(action)
        action.setObjectName(spec.id)
        built[spec.id] = action
    return built


def recent_menu(after: QAction) -> QMenu:
    """The "Open recent" submenu, placed just after `after` in its menu."""
    parent = next(o for o in after.associatedObjects() if isinstance(o, QMenu))
    actions = parent.actions()
    following = actions.index(after) + 1
    menu = QMenu("Open &recent", parent)
    if following < len(actions):
        parent.insertMenu(actions[following], menu)
    else:
        parent.addMenu(menu)
    return menu


def update_enabled(actions: dict[str, QAction], review: Review | None) -> None:
    state = {
        WITH_REVIEW: review is not None,
        CAN_UNDO: review is not None and review.can_undo(),
        CAN_REDO: review is not None and review.can_redo(),
    }
    for spec in ACTIONS:
        actions[spec.id].setEnabled(state.get(spec.enabled, True))


def key_sequence(key: str) -> QKeySequence:
    return QKeySequence(key)


def _menu(window: QMainWindow, menus: dict[str, QMenu], path: str) -> QMenu:
    """The menu at "Review/&Toggle tag", made on first use; "&Review" and "Review" are one."""
    key = path.replace("&", "")
    if key not in menus:
        parent, _, name = path.rpartition("/")
        owner = _menu(window, menus, parent) if parent else window.menuBar()
        menus[key] = owner.addMenu(name if "&" in name else "&" + name)
    return menus[key]
