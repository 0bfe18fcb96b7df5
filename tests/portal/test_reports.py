import datetime
import re

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.management import CommandError, call_command

from cache_api import metering
from portal import figures, pricing, reports, tasks
from portal.models import WeeklyReportSent
from tenants.models import Membership
from tests.factories import MembershipFactory, NamespaceFactory
from tests.portal.factories import UsageDailyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def week(organization):
    """Last full week with traffic on 3 days, and some traffic the week before."""
    monday = reports.last_full_week(metering.utc_today())
    cdn = organization.namespaces.get(name="cdn")
    storage = organization.namespaces.get(name="storage")
    UsageDailyFactory(namespace=cdn, day=monday, hits=900, misses=100, sets=0)
    UsageDailyFactory(namespace=cdn, day=monday + datetime.timedelta(days=3), hits=50, misses=50, sets=20)
    UsageDailyFactory(
        namespace=storage,
        day=monday + datetime.timedelta(days=6),
        hits=0,
        misses=0,
        sets=40,
        bytes_written=4_000_000,
        dedup_bytes_saved=12_000_000,
        upload_bytes_saved=9_000_000,
    )
    UsageDailyFactory(namespace=cdn, day=monday - datetime.timedelta(days=2), hits=10, misses=10, sets=0)
    UsageDailyFactory(namespace=cdn, day=monday + datetime.timedelta(days=7), hits=5555, misses=0, sets=0)  # after
    return monday


def test_last_full_week_is_monday_to_sunday_before_today():
    assert reports.last_full_week(datetime.date(2026, 11, 25)) == datetime.date(2026, 11, 16)  # a Wednesday
    assert reports.last_full_week(datetime.date(2026, 11, 23)) == datetime.date(2026, 11, 16)  # a Monday
    assert reports.parse_week("2026-11-19", today=datetime.date(2026, 11, 25)) == datetime.date(2026, 11, 16)
    assert reports.parse_week("junk", today=datetime.date(2026, 11, 25)) == datetime.date(2026, 11, 16)


def test_report_figures_equal_the_dashboards(client, owner, organization, week):
    report = reports.build_weekly_report(organization, week)
    assert report.totals["requests"] == 1000 + 120 + 40
    assert report.totals["hits"] == 950 and report.totals["dedup_bytes_saved"] == 12_000_000
    assert report.previous_requests == 20
    client.force_login(owner)
    end = week + datetime.timedelta(days=6)
    html = client.get(f"/portal/dashboard/?start={week}&end={end}").content.decode()

    def shown(testid):
        return re.search(rf'data-testid="{testid}">([^<]*)<', html).group(1)

    assert shown("total-requests") == f"{report.totals['requests']:,}"
    assert shown("hit-rate") == f"{report.totals['hit_rate'] * 100:.1f}%"
    assert shown("cost-saved") == f"${report.totals['cost_saved_usd']:,.4f}"
    assert shown("dedup-rate") == f"{report.totals['dedup_rate'] * 100:.1f}%"
    page = client.get(f"/portal/reports/weekly/?week={week}").content.decode()
    assert f"{report.totals['requests']:,}" in page and "Next steps" in page


def test_weekly_email_has_text_and_html_and_goes_to_owners_only(organization, owner, week):
    MembershipFactory(organization=organization, role=Membership.Role.ADMIN)
    second_owner = MembershipFactory(organization=organization, role=Membership.Role.OWNER).user
    report = reports.build_weekly_report(organization, week)
    assert reports.send_weekly_report(report, portal_url="https://portal.example") == 2
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([owner.email, second_owner.email])
    assert "1,160" in message.body and "Next steps" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "1,160" in html
    assert f"https://portal.example/portal/reports/weekly/?week={week}" in message.body


def test_monday_task_sends_every_active_organizations_report(organization, owner, other_organization, week):
    other_organization.is_active = False
    other_organization.save()
    sent = tasks.send_weekly_reports.apply().get()
    assert sent == 1
    assert [m.to for m in mail.outbox] == [[owner.email]]


def test_command_prints_or_sends(organization, owner, week, capsys):
    call_command("weekly_report", "--org", organization.slug, "--week", week.isoformat())
    out = capsys.readouterr().out
    assert "Requests:" in out and "1,160" in out
    assert not mail.outbox
    call_command("weekly_report", "--org", organization.slug, "--send")
    assert "Sent" in capsys.readouterr().out and len(mail.outbox) == 1
    with pytest.raises(CommandError):
        call_command("weekly_report", "--org", "no-such-org")


def test_next_steps_fit_the_usage(organization):
    namespaces = [NamespaceFactory.build(id=1, name="files", nodes=["file_dedup_cache"], default_ttl=60)]
    default = [(pricing.DEFAULT_EGRESS, ["files"])]
    idle = reports.next_steps({"requests": 0, "hits": 0, "misses": 0, "hit_rate": None}, [], default, set())
    assert any("quick-start" in step for step in idle)
    low = reports.next_steps({"requests": 500, "hits": 100, "misses": 400, "hit_rate": 0.2}, namespaces, default, set())
    assert any("20.0%" in step and "files, 60 s" in step for step in low)
    assert any("dedup file store" in step for step in low)
    assert any("default price of $0.09/GB" in step for step in low)
    free = pricing.EgressPrice(None, "Lyve Cloud: no egress fees")
    no_egress = reports.next_steps(
        {"requests": 5, "hits": 5, "misses": 0, "hit_rate": 1.0}, namespaces, [(free, ["files"])], {1}
    )
    assert any("charges no egress" in step for step in no_egress)
    assert not any("dedup file store" in step for step in no_egress)


def test_a_redelivered_monday_task_sends_nobody_a_second_report(organization, owner, other_organization, week):
    assert tasks.send_weekly_reports.apply().get() == 2
    assert tasks.send_weekly_reports.apply().get() == 0  # acks_late: the same message delivered again
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, "rival@example.com"])
    assert WeeklyReportSent.objects.filter(week=week).count() == 2


def test_a_failed_send_is_retried_by_the_next_delivery(organization, owner, week, monkeypatch):
    real_send = reports.send_weekly_report
    monkeypatch.setattr(reports, "send_weekly_report", lambda report: 1 / 0)
    assert reports.send_all_weekly_reports() == 0
    assert not WeeklyReportSent.objects.exists()
    monkeypatch.setattr(reports, "send_weekly_report", real_send)
    assert reports.send_all_weekly_reports() == 1 and len(mail.outbox) == 1


def test_soft_time_limit_stops_the_task_instead_of_being_swallowed(organization, owner, week, monkeypatch):
    def out_of_time(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(reports, "build_weekly_report", out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        reports.send_all_weekly_reports()
    assert not mail.outbox and not WeeklyReportSent.objects.exists()


def test_report_and_dashboard_agree_on_every_figure_including_counts_not_yet_rolled_up(
    client, owner, organization, week
):
    cdn = organization.namespaces.get(name="cdn")
    storage = organization.namespaces.get(name="storage")
    # Counted but never rolled up: both must include these, once.
    metering.add_counts(
        organization.id,
        cdn.id,
        week + datetime.timedelta(days=1),
        requests=30,
        hits=20,
        misses=10,
        bytes_served=7_000_000,
    )
    metering.add_counts(
        organization.id, storage.id, week + datetime.timedelta(days=6), requests=5, sets=5, upload_bytes_saved=3_000_000
    )
    report = reports.build_weekly_report(organization, week)
    rolled = (900 + 50) * 1000 + 9_000_000  # the fixture's rows: bytes served plus bytes not uploaded
    assert report.totals["requests"] == 1160 + 35
    assert report.totals["bandwidth_saved_bytes"] == rolled + 7_000_000 + 3_000_000
    assert report.projections == figures.projections(report.totals["cost_saved_usd"], 7)

    client.force_login(owner)
    response = client.get(f"/portal/dashboard/?start={week}&end={week + datetime.timedelta(days=6)}")
    assert response.context["totals"] == report.totals
    assert response.context["summary"]["projections"] == report.projections
    dashboard = response.content.decode()
    page = client.get(f"/portal/reports/weekly/?week={week}").content.decode()

    def shown(html, testid):
        return re.search(rf'data-testid="{testid}">([^<]*)<', html).group(1).strip()

    pairs = [
        ("total-requests", "report-requests"),
        ("bandwidth-saved", "report-bandwidth"),
        ("cost-saved", "report-cost"),
        ("projection-monthly", "report-monthly"),
        ("projection-annual", "report-annual"),
    ]
    for on_dashboard, on_report in pairs:
        assert shown(dashboard, on_dashboard) == shown(page, on_report), on_dashboard
    assert shown(dashboard, "total-requests") == "1,195"
    assert shown(dashboard, "bandwidth-saved") == figures.human_bytes(rolled + 10_000_000)
