"""The weekly performance report: built from selectors.summary (the dashboard's figures), shown in
the portal, printed by `manage.py weekly_report` and emailed to owners every Monday."""

import datetime
import logging
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from cache_api import metering
from portal import figures, selectors
from portal.models import WeeklyReportSent
from tenants.models import Membership, Namespace, Organization

logger = logging.getLogger(__name__)

LOW_HIT_RATE = 0.5
MIN_LOOKUPS_FOR_ADVICE = 100
DEDUP_NODES = {"file_dedup_cache", "seagate_lyve_connector"}
CDN_NODES = {"cdn_accelerator", "desktop_cdn"}


@dataclass
class WeeklyReport:
    organization: Organization
    start: datetime.date
    end: datetime.date
    totals: dict
    projections: dict
    price_notes: list  # [(EgressPrice, [namespace names])]
    per_namespace: list
    previous_requests: int
    next_steps: list

    @property
    def subject(self):
        return f"AgentCache weekly report for {self.organization.name}: {self.start:%b %d} – {self.end:%b %d, %Y}"

    @property
    def requests_change(self):
        if not self.previous_requests:
            return None
        return (self.totals["requests"] - self.previous_requests) / self.previous_requests


def last_full_week(today):
    """Monday of the last complete Monday–Sunday week before `today` (UTC)."""
    return today - datetime.timedelta(days=today.weekday() + 7)


EARLIEST_WEEK = datetime.date(1970, 1, 5)
LATEST_WEEK = datetime.date(9000, 12, 31)


def parse_week(value, today):
    """The Monday of the week containing `value` (YYYY-MM-DD); the last full week if absent or invalid."""
    try:
        day = datetime.date.fromisoformat(value) if value else None
    except ValueError:
        day = None
    # Weeks at the ends of the calendar have no neighbours to step to.
    if day is None or not EARLIEST_WEEK <= day <= LATEST_WEEK:
        return last_full_week(today)
    return day - datetime.timedelta(days=day.weekday())


def next_steps(totals, namespaces, price_notes, dedup_namespaces_used):
    """Advice that fits the week's usage; pure so it can be tested on its own."""
    steps = []
    lookups = totals["hits"] + totals["misses"]
    if totals["requests"] == 0:
        steps.append("No requests this week: the quick-start page has copy-paste examples for your first call.")
    elif lookups >= MIN_LOOKUPS_FOR_ADVICE and totals["hit_rate"] is not None and totals["hit_rate"] < LOW_HIT_RATE:
        short = sorted(namespaces, key=lambda ns: ns.default_ttl)[:1]
        hint = f" (shortest now: {short[0].name}, {short[0].default_ttl} s)" if short else ""
        steps.append(
            f"Hit rate was {totals['hit_rate'] * 100:.1f}%: longer default TTLs{hint} or warming hot keys with "
            "mset would turn more misses into hits."
        )
    elif totals["hit_rate"] is not None and totals["hit_rate"] >= 0.9 and lookups >= MIN_LOOKUPS_FOR_ADVICE:
        steps.append("Hit rate above 90%: the cache is sized well; mget batches cut round trips further.")
    unused_dedup = [ns.name for ns in namespaces if DEDUP_NODES & set(ns.nodes) and ns.id not in dedup_namespaces_used]
    if unused_dedup:
        names = ", ".join(unused_dedup)
        subject = f"Namespace {names} has" if len(unused_dedup) == 1 else f"Namespaces {names} have"
        steps.append(
            f"{subject} the dedup file store on but stored no duplicate bytes: "
            "upload through /api/files with client-side chunk checks to stop re-sending unchanged data."
        )
    if any(CDN_NODES & set(ns.nodes) for ns in namespaces):
        steps.append("Run the desktop-CDN evaluator on an access log to size your edge and desktop caches.")
    for price, names in price_notes:
        if not price.charges_egress:
            steps.append(
                f"{', '.join(names)}: the origin charges no egress, so bandwidth saved is shown in bytes, not dollars."
            )
        elif price.is_default:
            steps.append(
                f"Cost saved for {', '.join(names)} uses a default price of ${price.usd_per_gb}/GB egress; "
                "set your origin's price for exact dollars."
            )
    return steps


def build_weekly_report(organization, week_start, today=None):
    today = today or metering.utc_today()
    start, end = week_start, week_start + datetime.timedelta(days=6)
    summary = selectors.summary(organization, start, end, today=today)
    previous = selectors.usage(
        organization, start - datetime.timedelta(days=7), start - datetime.timedelta(days=1), today=today
    ).totals()
    namespaces = list(Namespace.objects.filter(organization=organization).order_by("name"))
    per_namespace = {}
    for row in summary["usage"].rows:
        figures.add_into(per_namespace.setdefault(row["namespace"], figures.empty_totals()), row)
    dedup_used = {row["namespace_id"] for row in summary["usage"].rows if row["dedup_bytes_saved"]}
    return WeeklyReport(
        organization=organization,
        start=start,
        end=end,
        totals=summary["totals"],
        projections=summary["projections"],
        price_notes=summary["price_notes"],
        per_namespace=[(name, figures.with_rates(t)) for name, t in sorted(per_namespace.items())],
        previous_requests=previous["requests"],
        next_steps=next_steps(summary["totals"], namespaces, summary["price_notes"], dedup_used),
    )


def render_report(report, portal_url=""):
    context = {"report": report, "portal_url": portal_url}
    return (
        render_to_string("portal/email/weekly_report.txt", context),
        render_to_string("portal/email/weekly_report.html", context),
    )


def owner_emails(organization):
    return list(
        Membership.objects.filter(organization=organization, role=Membership.Role.OWNER, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def send_weekly_report(report, portal_url=None):
    recipients = owner_emails(report.organization)
    if not recipients:
        return 0
    portal_url = portal_url if portal_url is not None else getattr(settings, "PORTAL_BASE_URL", "")
    text, html = render_report(report, portal_url)
    message = EmailMultiAlternatives(report.subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    message.send()
    return len(recipients)


def send_report_once(organization, week_start, today=None):
    """Build and email the week's report unless it was already sent; True if it went to someone.

    The WeeklyReportSent row is inserted in the transaction that sends: a failed send leaves no
    row (the next delivery retries), and a concurrent delivery waits on the unique row, then skips.
    """
    try:
        with transaction.atomic():
            record = WeeklyReportSent.objects.create(organization=organization, week=week_start)
            record.recipients = send_weekly_report(build_weekly_report(organization, week_start, today=today))
            record.save(update_fields=["recipients"])
    except IntegrityError:
        return False
    return record.recipients > 0


def send_all_weekly_reports(today=None):
    """Send last week's report to every active organization that has not had it yet (safe to redeliver)."""
    today = today or metering.utc_today()
    week_start = last_full_week(today)
    done = set(WeeklyReportSent.objects.filter(week=week_start).values_list("organization_id", flat=True))
    sent = skipped = 0
    for organization in Organization.objects.filter(is_active=True).select_related("plan").iterator():
        if organization.id in done:
            skipped += 1
            continue
        try:
            if send_report_once(organization, week_start, today=today):
                sent += 1
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: stop; a redelivery skips the reports already sent
        except Exception:  # one organization's failure must not stop the others' reports
            logger.exception("weekly report failed for organization %s", organization.slug)
    if skipped:
        logger.info("weekly reports for %s: %d organizations already had theirs", week_start, skipped)
    return sent
