"""``accounts.services.normalize_phone``: whatever is typed, either E.164 that reads back as
itself or an InvalidInput naming the field (never another exception, which would be a 500)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studiobook.accounts.services import display_phone, normalize_phone
from studiobook.studios.errors import InvalidInput

TYPED = st.text(max_size=60) | st.from_regex(r"\+[0-9 ()\-.]{0,30}", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(TYPED)
def test_typed_numbers_become_e164_or_a_field_error(typed):
    try:
        stored = normalize_phone(typed)
    except InvalidInput as error:
        assert (error.field, error.rule) in {("phone", "phone_format"),
                                             ("phone", "phone_invalid")}
        return
    assert stored == "" or (stored[0] == "+" and stored[1:].isascii()
                            and stored[1:].isdigit() and len(stored) <= 16)
    assert normalize_phone(stored) == stored
    # What the settings page shows is read back to the same number.
    assert normalize_phone(display_phone(stored)) == stored
