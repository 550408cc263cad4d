"""How an inbox action reaches this process's live side once its change is committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dashboard.live.hub import Hub


@dataclass(frozen=True, slots=True)
class LiveNotifier:
    """This process's open streams (through the hub) and its notification poller."""

    hub: Hub
    wake_notification_poller: Callable[[], None]

    def read_state_changed(
        self,
        user_id: int,
        *,
        read_ids: Iterable[int] = (),
        archived_ids: Iterable[int] = (),
        unread_ids: Iterable[int] = (),
    ) -> None:
        """Every open stream of ``user_id`` restyles the items marked read or unread, takes
        archived ones out and sends a recounted badge."""
        changed = [*read_ids, *unread_ids]
        self.hub.publish_read_state(user_id, changed_ids=changed, archived_ids=archived_ids)

    def notification_posted(self) -> None:
        """A notification was written: deliver it now, not at the end of the poll interval."""
        self.wake_notification_poller()
