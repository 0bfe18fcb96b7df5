from django.core.management.base import BaseCommand, CommandError

from config.health import readiness


class Command(BaseCommand):
    help = "Print whether the database, Redis and the Celery broker are reachable (same checks as /readyz)."

    def handle(self, *args, **options):
        ready, checks = readiness()
        for name, check in checks.items():
            mark = "ok  " if check["ok"] else "FAIL"
            self.stdout.write(f"{mark} {name:<9} {check['ms']:>8.2f} ms  {check.get('error', check['detail'])}")
        if not ready:
            raise CommandError("Not ready.")
        self.stdout.write(self.style.SUCCESS("ready"))
