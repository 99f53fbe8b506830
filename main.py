"""Chip Audit. No arguments opens the app; `python main.py COMMAND ...` runs the command line."""

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] == "review":
        from gui.app import main as gui_main  # Qt is imported only when a window is wanted

        return gui_main(argv[1:])
    if argv[0] == "stats":  # charts drawn with the Overview's (Qt, offscreen)
        from gui.stats import main as stats_main

        return stats_main(argv[1:])
    from model.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
