import json

from django.core.management.base import BaseCommand, CommandError

from dedup import services
from tenants.models import Organization


class Command(BaseCommand):
    help = "Read and verify every stored chunk of an organization against its SHA-256; exit 1 on any problem."

    def add_arguments(self, parser):
        parser.add_argument("org", help="organization slug")

    def handle(self, *args, **options):
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organization '{options['org']}'.")
        report = services.verify_organization(org.id)
        self.stdout.write(json.dumps(report, indent=2))
        if not report["ok"]:
            raise CommandError("verification found problems (see report above)")
