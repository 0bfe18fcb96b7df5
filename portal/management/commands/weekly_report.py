import datetime

from django.core.management.base import BaseCommand, CommandError

from cache_api import metering
from portal import reports
from tenants.models import Organization


class Command(BaseCommand):
    help = "Print an organization's weekly report (last full week by default), or email it to its owners."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--week", help="Any day (YYYY-MM-DD) of the week to report.")
        parser.add_argument("--send", action="store_true", help="Email the owners instead of printing.")

    def handle(self, *args, **options):
        organization = Organization.objects.select_related("plan").filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{options['org']}'.")
        if options["week"]:
            try:
                datetime.date.fromisoformat(options["week"])
            except ValueError as exc:
                raise CommandError(f"--week must be YYYY-MM-DD: {exc}") from exc
        today = metering.utc_today()
        report = reports.build_weekly_report(organization, reports.parse_week(options["week"], today), today=today)
        if options["send"]:
            count = reports.send_weekly_report(report)
            self.stdout.write(f"Sent '{report.subject}' to {count} owner(s).")
        else:
            text, _html = reports.render_report(report)
            self.stdout.write(text)
