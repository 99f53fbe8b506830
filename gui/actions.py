"""Every action of the window, declared once as data: its name, keys, menu, help and when it is
enabled. The window builds its menus and shortcuts from this table, the Keys dialog (F1) lists
it, and the README's key table is tested equal to `key_table_markdown()`.

Plain Python (no Qt), after napari's `_qt/_qapp_model/qactions`: the table says what exists; the
window says what each action does (a handler per id).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.tags import LAND_TAGS, TAGS, WEATHER_TAGS

# One key per tag, chosen to be easy to remember; shown beside each tag on screen.
TAG_KEYS: dict[str, str] = {
    "clear": "1",
    "partly_cloudy": "2",
    "haze": "3",
    "cloudy": "4",
    "primary": "P",
    "agriculture": "A",
    "road": "R",
    "water": "W",
    "cultivation": "C",
    "habitation": "H",
    "bare_ground": "B",
    "selective_logging": "S",
    "artisinal_mine": "M",
    "blooming": "L",
    "slash_burn": "X",
    "blow_down": "D",
    "conventional_mine": "V",
}

# When an action can be used.
ALWAYS = "always"
WITH_REVIEW = "review"  # a folder is open
CAN_UNDO = "undo"
CAN_REDO = "redo"


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str  # menu text, & marks the mnemonic
    menu: str  # "File", or "Review/Toggle tag" for a submenu
    keys: tuple[str, ...] = ()  # QKeySequence strings ("Ctrl+L"; Ctrl is Cmd on macOS)
    help: str = ""  # for the Keys dialog and the README; empty: not listed there
    enabled: str = ALWAYS
    separator_before: bool = False


def toggle_id(tag: str) -> str:
    return f"toggle:{tag}"


def accept_id(tag: str) -> str:
    return f"accept:{tag}"


def _tag_actions() -> list[ActionSpec]:
    specs = []
    for tag in TAGS:
        specs.append(
            ActionSpec(toggle_id(tag), tag, "Review/&Toggle tag", (TAG_KEYS[tag],), "", WITH_REVIEW)
        )
    for tag in TAGS:
        specs.append(
            ActionSpec(
                accept_id(tag),
                tag,
                "Review/Accept the model's call for &tag",
                (f"Shift+{TAG_KEYS[tag]}",),
                "",
                WITH_REVIEW,
            )
        )
    return specs


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "&Open folder…", "&File", ("Ctrl+O",)),
    ActionSpec("open_labels", "Open &labels CSV…", "&File", ("Ctrl+L",), "", WITH_REVIEW),
    ActionSpec(
        "export_labels", "&Export corrected labels…", "&File", ("Ctrl+E",), "", WITH_REVIEW, True
    ),
    ActionSpec(
        "export_labels_shown",
        "Export corrected labels of the chips &shown…",
        "&File",
        enabled=WITH_REVIEW,
    ),
    ActionSpec(
        "export_labels_with_model",
        "Export corrected labels, with the model's tags for unlabelled chips…",
        "&File",
        enabled=WITH_REVIEW,
    ),
    ActionSpec("export_change_log", "Export the change &log…", "&File", enabled=WITH_REVIEW),
    ActionSpec(
        "export_predictions", "Export the model's &predictions…", "&File", enabled=WITH_REVIEW
    ),
    ActionSpec(
        "export_predictions_shown",
        "Export the model's predictions for the chips shown…",
        "&File",
        enabled=WITH_REVIEW,
    ),
    ActionSpec(
        "export_charts",
        "Export the Overview's charts (PNG and CSV)…",
        "&File",
        enabled=WITH_REVIEW,
    ),
    ActionSpec("quit", "&Quit", "&File", ("Ctrl+Q",), separator_before=True),
    ActionSpec("undo", "&Undo", "&Edit", ("Ctrl+Z",), "undo, over the whole session", CAN_UNDO),
    ActionSpec("redo", "&Redo", "&Edit", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo", CAN_REDO),
    ActionSpec(
        "next_suspect",
        "Next &suspect chip",
        "&Review",
        ("N",),
        "next suspect chip (most likely wrong, not yet reviewed)",
        WITH_REVIEW,
    ),
    ActionSpec(
        "reviewed_and_next",
        "Mark reviewed and go to &next",
        "&Review",
        ("Space",),
        "mark reviewed and go to the next chip",
        WITH_REVIEW,
    ),
    ActionSpec(
        "accept_all",
        "&Accept the model's call for every tag",
        "&Review",
        ("Shift+Return",),
        "take the model's call for every tag",
        WITH_REVIEW,
    ),
    *_tag_actions(),
    ActionSpec("zoom_in", "Zoom &in", "&View", ("+", "="), "zoom the chip in"),
    ActionSpec("zoom_out", "Zoom &out", "&View", ("-",), "zoom the chip out"),
    ActionSpec("zoom_fit", "&Fit", "&View", ("0",), "fit the chip to the panel"),
    ActionSpec("overview", "O&verview of the folder", "&View", separator_before=True),
    ActionSpec(
        "map",
        "&Map of the set",
        "&View",
        ("Ctrl+Shift+M",),
        "show or hide the map of the set (draw on it to select chips)",
        separator_before=True,
    ),
    ActionSpec(
        "grad_cam",
        "&Where the model looks",
        "&View",
        ("G",),
        "show or hide where the model sees the chip's most suspect tag (coarse at 32 px)",
        WITH_REVIEW,
    ),
    ActionSpec(
        "predict", "&Predict the rest of the folder", "&Model", ("Ctrl+P",), "", WITH_REVIEW
    ),
    ActionSpec("retrain", "&Retrain on this folder…", "&Model", ("Ctrl+R",), "", WITH_REVIEW, True),
    ActionSpec("models", "&Models…", "&Model", ("Ctrl+M",)),
    ActionSpec("keys", "&Keys…", "&Help", ("F1",), "this list of keys"),
)
ACTIONS_BY_ID = {spec.id: spec for spec in ACTIONS}

# Keys that are not actions of the window: said in the Keys dialog and the README all the same.
OTHER_KEYS: tuple[tuple[str, str], ...] = (("Escape", "from the name filter back to the grid"),)


def _display(key: str) -> str:
    return key.replace("Return", "Enter")


def key_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for the Keys dialog and the README, from the table above."""
    weather = " ".join(f"`{TAG_KEYS[t]}`" for t in WEATHER_TAGS)
    land = " ".join(f"`{TAG_KEYS[t]}`" for t in LAND_TAGS)
    rows = [
        (weather, ", ".join(WEATHER_TAGS) + " (a weather tag replaces the other one)"),
        (land, ", ".join(LAND_TAGS)),
        (
            "`Shift` + a tag's key",
            "take the model's call for that tag (a weather tag it calls replaces the other one)",
        ),
    ]
    for spec in ACTIONS:
        if spec.help:
            rows.append((", ".join(f"`{_display(k)}`" for k in spec.keys), spec.help))
    rows.extend((f"`{key}`", what) for key, what in OTHER_KEYS)
    return rows


def key_table_markdown() -> str:
    lines = ["| key | action |", "| --- | --- |"]
    lines += [f"| {keys} | {what} |" for keys, what in key_rows()]
    return "\n".join(lines)


def key_table_html() -> str:
    cells = "".join(
        f"<tr><td><b>{keys.replace('`', '')}</b></td><td>{what}</td></tr>"
        for keys, what in key_rows()
    )
    return (
        "<p>Keys act on every selected chip. A tag's key turns it on or off; Shift with the key"
        " takes the model's call for that tag. A weather tag turned on replaces the other"
        " one.</p><table cellspacing=4>" + cells + "</table>"
    )
