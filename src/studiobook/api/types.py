"""The API's bounded input types, each ``studiobook.limits`` applied to a pydantic type, so
the OpenAPI schema, the validation error (422 naming the field, ``rule`` the limit's code)
and the services agree on one range."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from studiobook import limits

# An instant with an offset, 1970-01-01T00:00:00Z .. 2100-01-01T00:00:00Z.
Instant = Annotated[AwareDatetime, AfterValidator(limits.instant)]
# A local date in the studio's zone, 1970-01-02 .. 2099-12-30.
LocalDate = Annotated[date, AfterValidator(limits.local_date)]
# A wall-clock time of whole minutes with no zone ("09:30").
WallTime = Annotated[time, AfterValidator(limits.wall_clock_minute)]
# A database id (signed 64-bit, positive).
Id = Annotated[int, Field(ge=limits.MIN_ID, le=limits.MAX_ID)]
