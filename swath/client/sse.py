"""Reading a Server-Sent Events stream (the WHATWG event-stream format) line by line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event: its `id` (`None` when it set none), `event` type and `data`."""

    id: str | None
    event: str
    data: str


class EventParser:
    """Feed it lines (without their line break); it returns an event at each blank line that ends one."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        """Take one line; the event it completes, if any."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            done = ServerEvent(id=self._id, event=self._event or "message", data="\n".join(self._data))
            self._event, self._data = "", []
            return done
        if line.startswith(":"):
            return None  # a comment: keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        return None
