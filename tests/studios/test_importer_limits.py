"""The studio file takes instants, dates and clock times only inside ``studiobook.limits``
and no NUL in any string (issue 9): each is a problem naming its path, and nothing is
parsed into a value the database or the core cannot carry."""

from __future__ import annotations

import pytest

from studiobook.studios.importer import StudioFileError, parse_studio_toml
from tests.studios.test_importer import MINIMAL

RANGE = "must be between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z"


@pytest.mark.parametrize(("text", "problems"), [
    pytest.param(MINIMAL + '\n[[blackouts]]\nstart = "0001-01-01T00:00+14:00"\n'
                           'end = "2030-01-01T00:00"\n',
                 [f"blackouts[0].start: {RANGE}"], id="year-1-with-offset"),
    pytest.param(MINIMAL + '\n[[blackouts]]\nstart = 0001-01-01T00:00:00\n'
                           'end = 2030-01-01T00:00:00\n',
                 [f"blackouts[0].start: {RANGE}"], id="toml-local-datetime-year-1"),
    pytest.param(MINIMAL + '\n[[blackouts]]\nstart = "2030-01-01T00:00"\n'
                           'end = "9999-12-31T23:59"\n',
                 [f"blackouts[0].end: {RANGE}"], id="year-9999"),
    pytest.param(MINIMAL.replace('start = "10:00"', 'start = 10:00:30'),
                 ["studio.hours[0].start: must be a whole minute 'HH:MM' (no seconds)"],
                 id="toml-time-with-seconds"),
    pytest.param(MINIMAL.replace('end = "18:00"',
                                 'end = "18:00"\neffective_from = "0001-01-01"'),
                 ["studio.hours[0].effective_from: must be a date between 1970-01-02 and "
                  "2099-12-30"], id="effective-from-year-1"),
    pytest.param(MINIMAL.replace('name = "Room 1"', 'name = "Room\\u00001"'),
                 ["rooms[0].name: must not contain a NUL character (\\u0000)"], id="nul-name"),
    pytest.param(MINIMAL.replace('tags = ["tracking"]', 'tags = ["track\\u0000ing"]'),
                 ["rooms[0].tags[0]: must not contain a NUL character (\\u0000)"],
                 id="nul-tag"),
])
def test_out_of_range_values_are_problems_naming_the_path(text, problems):
    with pytest.raises(StudioFileError) as caught:
        parse_studio_toml(text)
    assert [p for p in caught.value.problems if p in problems] == problems
