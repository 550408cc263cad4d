from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from dashboard import display
from dashboard.models import User
from tests.factories import make_user


def test_canonical_times_are_utc_24_hour_with_english_month_names() -> None:
    when = datetime(2026, 12, 6, 8, 5, 59, tzinfo=UTC)
    assert display.format_time_of_day(when) == "08:05 UTC"
    assert display.format_date(when) == "Dec 6, 2026"
    assert display.format_date_time(when) == "Dec 6, 2026, 08:05 UTC"
    assert display.format_date_time(None) == ""


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    when = datetime(2027, 1, 1, 0, 30, tzinfo=berlin)  # Dec 31, 23:30 UTC
    assert display.format_date_time(when) == "Dec 31, 2026, 23:30 UTC"


def test_a_users_choice_is_kept(session: Session) -> None:
    user = make_user(session, "alice")
    assert user.id is not None
    display.set_display(session=session, user_id=user.id, locale="de-DE", times="local")
    session.refresh(user)
    assert (user.display_locale, user.display_times) == ("de-DE", "local")
    display.set_display(session=session, user_id=user.id, locale="", times="utc")
    session.refresh(user)
    assert (user.display_locale, user.display_times) == (None, "utc")


@pytest.mark.parametrize(
    ("locale", "times", "message"),
    [
        ("xx-YY", "utc", "not one of the list"),
        ("de-DE", "Europe/Berlin", "UTC or in this device's time zone"),
        ("de-DE", "", "UTC or in this device's time zone"),
    ],
)
def test_an_unknown_choice_is_refused_and_nothing_changes(
    session: Session, locale: str, times: str, message: str
) -> None:
    user = make_user(session, "bob")
    assert user.id is not None
    display.set_display(session=session, user_id=user.id, locale="fr-FR", times="local")
    with pytest.raises(display.DisplayError, match=message):
        display.set_display(session=session, user_id=user.id, locale=locale, times=times)
    stored = session.get(User, user.id)
    assert stored is not None
    session.refresh(stored)
    assert (stored.display_locale, stored.display_times) == ("fr-FR", "local")
