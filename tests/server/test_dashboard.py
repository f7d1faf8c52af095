"""The dashboard's periods are whole days and calendar weeks in Weihai, whatever the server's zone."""

from datetime import date, datetime, timezone

from server.reports import dashboard


def test_local_days_run_from_midnight_to_midnight_in_weihai():
    start, end = dashboard.local_days(first=date(2026, 12, 1), last=date(2026, 12, 1))
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 12, 1, 16, 0, tzinfo=timezone.utc)
    assert dashboard.local_days(first=date(2026, 12, 1), last=date(2026, 12, 31))[1] == \
        datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)


def test_the_default_period_is_eight_calendar_weeks_up_to_today():
    assert dashboard.default_days(today=date(2026, 12, 7)) == (date(2026, 10, 19), date(2026, 12, 7))  # a Monday
    assert dashboard.default_days(today=date(2026, 12, 13)) == (date(2026, 10, 19), date(2026, 12, 13))  # a Sunday
    # Late on a Sunday in UTC is already Monday in Weihai.
    assert dashboard.local_today(datetime(2026, 12, 13, 17, 0, tzinfo=timezone.utc)) == date(2026, 12, 14)


async def test_a_kept_dashboard_is_computed_again_once_anything_it_counts_moves(client):
    from tests.builders import make_need, make_resident, make_station

    station = await make_station()
    start, end = dashboard.local_days(first=date(2020, 1, 1), last=date(2099, 12, 31))
    before = await dashboard.dashboard(scope="station", scope_id=station.id, start=start, end=end)
    again = await dashboard.dashboard(scope="station", scope_id=station.id, start=start, end=end)
    assert again is before  # nothing moved: the kept one
    assert before["overview"]["needs"]["total"] == 0
    await make_need(client, (await make_resident(client, station))[0])  # a need: a workflow event
    after = await dashboard.dashboard(scope="station", scope_id=station.id, start=start, end=end)
    assert after is not before and after["overview"]["needs"]["total"] == 1
