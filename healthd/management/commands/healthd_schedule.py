"""Write healthd's django-celery-beat rows from the settings (also done after migrate)."""

from django.core.management.base import BaseCommand

from healthd.tasks.schedule import sync_schedule


class Command(BaseCommand):
    help = "Create, update and remove healthd's PeriodicTasks to match the settings."

    def handle(self, *args, **options) -> None:
        changes = sync_schedule()
        for kind, names in changes.items():
            for name in names:
                self.stdout.write(f"{kind}: {name}")
        if not any(changes.values()):
            self.stdout.write("schedule already up to date")
