"""Change notices without Qt: a model announces what changed, views subscribe.

After napari's `EmitterGroup`, cut to what we need: an `Event` is a list of callbacks called in
order with keyword arguments. Emitting happens on the caller's thread; the review is only changed
on the window's thread, so its subscribers (widgets) are called there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Callback = Callable[..., Any]


class Event:
    """One kind of change; `emit(**info)` calls every subscriber with the same keywords."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Stop calling `callback`, or every subscriber when none is given."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, **info: Any) -> None:
        # A copy: a subscriber may disconnect itself (or another) while being called.
        for callback in list(self._callbacks):
            callback(**info)

    def __len__(self) -> int:
        return len(self._callbacks)


class EventGroup:
    """The events of one object, as attributes: `review.events.edited.connect(...)`."""

    def __init__(self, *names: str) -> None:
        self._names = names
        for name in names:
            setattr(self, name, Event(name))

    def disconnect_all(self) -> None:
        for name in self._names:
            getattr(self, name).disconnect()
