"""Tag -> client messages (``sendMessage``, ``addMessageListener``, ``hasMessageListener``).

One bus per client run: the client that claims a request registers listeners on it, and every
tag fired by that client's ``runContainer`` calls sends on it. A listener registered while a
``runContainer`` ``bindToEvent`` wrapper runs hears that event only; one registered unbound hears
every event the client runs (GTM's documented scoping). Listeners are called synchronously from
``sendMessage``, each with its own copy of the message (they live in another context).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Deliver = Callable[[str, Any], None]


@dataclass(frozen=True)
class Listener:
    type: str
    event: str | None  # the runContainer event it is bound to; None hears every event
    deliver: Deliver


@dataclass
class MessageBus:
    listeners: list[Listener] = field(default_factory=list)
    current: str | None = None  # the event whose tags are running now

    def listen(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def _hearing(self, message_type: str) -> list[Listener]:
        return [
            x
            for x in self.listeners
            if x.type == message_type and (x.event is None or x.event == self.current)
        ]

    def has(self, message_type: str) -> bool:
        return bool(self._hearing(message_type))

    def send(self, message_type: str, message: Any) -> int:
        """Call every listener of ``message_type`` in scope; returns how many heard it."""
        hearing = self._hearing(message_type)
        for listener in hearing:
            listener.deliver(message_type, copy.deepcopy(message))
        return len(hearing)
