import json

from django.core.management.base import BaseCommand, CommandError

from dedup import services
from tenants.models import Organization


class Command(BaseCommand):
    help = "Garbage-collect the dedup store: unreferenced chunks (after the grace period), empty and sparse packs."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug (default: every organization with data)")
        parser.add_argument("--limit", type=int, default=100_000, help="at most this many chunks deleted per org")

    def handle(self, *args, **options):
        if options["org"]:
            org = Organization.objects.filter(slug=options["org"]).first()
            if org is None:
                raise CommandError(f"No organization '{options['org']}'.")
            ids = [org.id]
        else:
            ids = services.organizations_with_data()
        for org_id in ids:
            self.stdout.write(json.dumps(services.collect_garbage(org_id, limit=options["limit"])))
        self.stdout.write(json.dumps({"temporaries_removed": services.remove_stale_temporaries()}))
