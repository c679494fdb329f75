"""Account rules that are ours to state: the form a phone number is kept in."""

from __future__ import annotations

import phonenumbers

from studiobook.studios.errors import InvalidInput

PHONE_EXAMPLE = "+1 416 555 0100"


def normalize_phone(value: str, *, field: str = "phone") -> str:
    """``value`` as E.164 (``"+14165550100"``), the form Twilio sends to; ``""`` for a blank.

    The number must carry its country code (``+`` and the code, spaces, dots, dashes and
    brackets allowed) and be a valid number for that country by libphonenumber's metadata
    (the ``phonenumbers`` package). Raises InvalidInput naming ``field``, with rule
    ``phone_format`` (no country code, not a number) or ``phone_invalid`` (no such number).
    """
    value = (value or "").strip()
    if not value:
        return ""
    if not value.startswith("+"):
        raise InvalidInput(f"enter the number with its country code, e.g. {PHONE_EXAMPLE}",
                           field=field, rule="phone_format")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"not a phone number; write it as e.g. {PHONE_EXAMPLE}",
                           field=field, rule="phone_format") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{value} is not a valid phone number for its country code",
                           field=field, rule="phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """An E.164 number as people write it internationally (``"+1 416-555-0100"``);
    ``""`` for none, and anything unparseable as it is."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:  # stored before this rule: shown as it is
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
