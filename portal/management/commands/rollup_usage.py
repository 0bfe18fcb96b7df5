import datetime

from django.core.management.base import BaseCommand, CommandError

from portal import services


class Command(BaseCommand):
    help = (
        "Fold the live usage counters into UsageDaily (default: every UTC day since the last complete run, at least"
        " yesterday and today). Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", action="append", help="UTC day YYYY-MM-DD to roll up (repeatable).")

    def handle(self, *args, **options):
        days = None
        if options["date"]:
            try:
                days = [datetime.date.fromisoformat(value) for value in options["date"]]
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD: {exc}") from exc
        result = services.rollup_usage(days)
        self.stdout.write(
            f"Rolled up {', '.join(result.days)}: {result.namespaces} namespaces, {result.applied} batches applied"
            f" ({result.requests} requests), {result.already_applied} already applied."
        )
