"""``studiobook import FILE``: create (or with --replace, update) a studio from a TOML file.
The format is documented in docs/studio-file.md."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from studiobook.studios.importer import StudioFileError, parse_studio_file, write_studio


class Command(BaseCommand):
    help = ("Import a studio with its rooms, staff, services, hours, blackouts and buffers "
            "from a TOML file (docs/studio-file.md). Nothing is written if the file has any "
            "problem.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="the studio file (.toml)")
        parser.add_argument("--replace", action="store_true",
                            help="update an existing studio with the same slug: its settings, "
                                 "and rooms, staff, services, hours, blackouts and buffers "
                                 "are replaced by the file's")
        parser.add_argument("--check", action="store_true",
                            help="only validate the file; write nothing")

    def handle(self, *args, **options) -> None:
        path = options["file"]
        try:
            spec = parse_studio_file(path)
            if options["check"]:
                self.stdout.write(f"{path}: OK (studio '{spec.slug}')")
                return
            result = write_studio(spec, replace=options["replace"], source=path)
        except StudioFileError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(result.describe())
