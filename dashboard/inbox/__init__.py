"""The inbox: notifications, who sees which, and each user's read state.

- :mod:`~dashboard.inbox.queries`: visibility, the inbox and history lists, the badge.
- :mod:`~dashboard.inbox.read_state`: the per-user writes (read, archived, muted).
- :mod:`~dashboard.inbox.compose`: an admin's draft, checked, previewed or published now.
- :mod:`~dashboard.inbox.schedule`: notifications to publish later, once across processes.
- :mod:`~dashboard.inbox.topics`: topics, and who subscribes to them.
- :mod:`~dashboard.inbox.delivery`: who received and read the recent ones (admin page).
- :mod:`~dashboard.inbox.actions`: each state change a route asks for, written and then
  told to live clients through :mod:`~dashboard.inbox.live`.
"""
