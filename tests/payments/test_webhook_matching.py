"""Stripe events move only our own money (issue 9, section 2).

Stripe sends every event of the account to the endpoint, so another integration's
PaymentIntents arrive too. Events are matched to payments only by the ids this deployment
stored, amount and currency must agree, a payment's intent id never changes, a succeeded
payment never goes back, and anything else is recorded as ``ignored`` with its reason.

The real SDK and gateway run against recorded responses (``stripe_transport``); every event
is shaped like Stripe's (the recorded objects in ``stripe_responses/``, wrapped as
https://docs.stripe.com/api/events/object) and signed with the real scheme
(``test_webhook_signature.sign``).
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.payments import services
from studiobook.payments.gateways import StripeGateway
from studiobook.payments.gateways.stripe_gateway import WEBHOOK_TOLERANCE_SECONDS
from studiobook.payments.models import LedgerEntry, Payment, Refund, WebhookEvent, can_move
from tests.payments.conftest import API_KEY, SECRET
from tests.payments.stripe_transport import load_fixture
from tests.payments.test_webhook_signature import sign

INTENT = "pi_3SVx5WLkdIwHu7ix0hQmA1Zc"  # the PaymentIntent of the recorded fixtures
FOREIGN = "pi_3TForeignIntegration0001"  # one this deployment never created
START = "2026-11-28T15:00:00Z"
OTHER_START = "2026-11-29T15:00:00Z"
PAYMENT_FIELDS = ("intent_id", "status", "amount_minor", "amount_captured_minor",
                  "amount_refunded_minor", "currency", "gateway", "last_error_code",
                  "last_error_message", "is_disputed", "action_url", "client_secret")


@pytest.fixture
def world(frozen_clock, studio, make_room, make_service, make_user, artist, api, transport):
    """Two artists' bookings: ours on Stripe (PaymentIntent ``INTENT``, CAD 150.00, manual
    capture) and another artist's paid at the studio (offline gateway)."""
    make_room(name="Studio A")
    service = make_service(name="Lockout", price_unit="session", base_price_minor=15000,
                           min_duration_minutes=120, default_duration_minutes=120,
                           requires_approval=True)
    transport.reply("POST", "/v1/customers", "customer.json")
    transport.reply("POST", "/v1/payment_intents", "payment_intent_manual_created.json")
    status, _ = api.post("/bookings", {"studio": "northside", "service_id": service.id,
                                       "start_at": START, "duration_min": 120}, user=artist)
    assert status == 201
    stripe_payment = Payment.objects.get()
    other = make_user(email="other@example.test", name="Olu Other")
    services.use_gateway(None)  # the offline gateway
    status, _ = api.post("/bookings", {"studio": "northside", "service_id": service.id,
                                       "start_at": OTHER_START, "duration_min": 120},
                         user=other)
    assert status == 201
    services.use_gateway(StripeGateway(API_KEY, SECRET, http_client=transport,
                                       max_network_retries=0))
    offline_payment = Payment.objects.exclude(pk=stripe_payment.pk).get()
    assert (stripe_payment.gateway, stripe_payment.intent_id) == ("stripe", INTENT)
    assert (offline_payment.gateway, offline_payment.amount_minor,
            offline_payment.currency) == ("offline", 15000, "CAD")
    return {"stripe": stripe_payment, "offline": offline_payment}


def intent_object(fixture: str, **changes) -> dict:
    obj = copy.deepcopy(load_fixture(fixture))
    if isinstance(obj.get("latest_charge"), dict):
        obj["latest_charge"] = obj["latest_charge"]["id"]  # events do not expand it
    obj.update(changes)
    return obj


def event(event_id: str, kind: str, obj: dict, *, created: int | None = None) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2026-10-28.endive",
            "created": int(time.time()) if created is None else created, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": kind, "data": {"object": obj}}


def deliver(client, body: dict | bytes, *, timestamp: int | None = None):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/webhooks/stripe", data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(payload, SECRET, timestamp))


def rows() -> dict[int, tuple]:
    return {p.pk: tuple(getattr(p, name) for name in PAYMENT_FIELDS)
            for p in Payment.objects.order_by("pk")}


def money() -> tuple[int, int]:
    return LedgerEntry.objects.count(), Refund.objects.count()


def succeeded_object(intent_id: str, payment_id: int, **changes) -> dict:
    return intent_object("payment_intent_captured.json", id=intent_id,
                         metadata={"booking": "SB-FOREIGN", "payment": str(payment_id)},
                         **changes)


def test_a_foreign_intent_naming_another_artists_payment_changes_nothing(world, client):
    """The issue's case: a signed succeeded event for a PaymentIntent we never created,
    metadata.payment = the other artist's offline payment, same amount and currency."""
    before, ledger = rows(), money()
    for target in (world["offline"], world["stripe"]):
        foreign = event(f"evt_foreign_{target.pk}", "payment_intent.succeeded",
                        succeeded_object(FOREIGN, target.pk))
        response = deliver(client, foreign)
        assert (response.status_code, response.json()) == (
            200, {"received": True, "status": "ignored"})
        record = WebhookEvent.objects.get(event_id=f"evt_foreign_{target.pk}")
        assert (record.status, record.error) == (
            "ignored", f"{FOREIGN} was not created by this deployment")
    assert (rows(), money()) == (before, ledger)


@pytest.mark.parametrize("kind, obj, reason", [
    ("payment_intent.succeeded",
     lambda: intent_object("payment_intent_captured.json", amount=1500,
                           amount_received=1500),
     f"{INTENT} is for 1500, payment {{pk}} for 15000"),
    ("payment_intent.succeeded",
     lambda: intent_object("payment_intent_captured.json", currency="usd"),
     f"{INTENT} is in usd, not CAD"),
    ("charge.refunded",
     lambda: {"id": "ch_foreign", "object": "charge", "amount": 15000, "currency": "cad",
              "payment_intent": FOREIGN, "refunded": True,
              "refunds": {"object": "list", "data": [
                  {"id": "re_foreign", "object": "refund", "amount": 15000,
                   "status": "succeeded"}]}},
     f"{FOREIGN} was not created by this deployment"),
    ("charge.dispute.created",
     lambda: {"id": "dp_foreign", "object": "dispute", "amount": 15000, "currency": "cad",
              "charge": "ch_foreign", "payment_intent": FOREIGN, "status": "needs_response"},
     f"{FOREIGN} was not created by this deployment"),
    ("charge.dispute.created",
     lambda: {"id": "dp_none", "object": "dispute", "amount": 15000, "currency": "cad",
              "charge": "ch_x", "payment_intent": None, "status": "needs_response"},
     "dispute dp_none names no PaymentIntent"),
    ("setup_intent.succeeded",
     lambda: {**load_fixture("setup_intent_created.json"), "status": "succeeded"},
     "{seti} was not created by this deployment"),
])
def test_events_that_do_not_agree_with_our_payment_are_recorded_and_ignored(
        world, client, kind, obj, reason):
    obj = obj()
    before, ledger = rows(), money()
    response = deliver(client, event("evt_odd", kind, obj))
    assert response.status_code == 200
    record = WebhookEvent.objects.get(event_id="evt_odd")
    assert (record.status, record.error) == (
        "ignored", reason.format(pk=world["stripe"].pk, seti=obj["id"]))
    assert (rows(), money()) == (before, ledger)


def test_our_own_events_still_apply_and_never_change_the_intent_id(world, client):
    paid = event("evt_paid", "payment_intent.succeeded",
                 intent_object("payment_intent_captured.json"))
    assert deliver(client, paid).status_code == 200
    payment = Payment.objects.get(pk=world["stripe"].pk)
    assert (payment.intent_id, payment.status, payment.amount_captured_minor) == (
        INTENT, "succeeded", 15000)
    assert WebhookEvent.objects.get(event_id="evt_paid").status == "processed"


def test_a_late_payment_failed_never_writes_a_decline_onto_a_succeeded_payment(world, client):
    paid = event("evt_paid", "payment_intent.succeeded",
                 intent_object("payment_intent_captured.json"))
    failed = event("evt_failed", "payment_intent.payment_failed", intent_object(
        "payment_intent_manual_created.json", status="requires_payment_method",
        last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds",
                            "message": "Your card has insufficient funds.",
                            "type": "card_error"}))
    assert deliver(client, paid).status_code == 200
    assert deliver(client, failed).status_code == 200
    payment = Payment.objects.get(pk=world["stripe"].pk)
    assert (payment.status, payment.last_error_code, payment.last_error_message,
            payment.amount_captured_minor) == ("succeeded", "", "", 15000)


def test_a_payment_failed_before_success_is_recorded(world, client):
    failed = event("evt_failed", "payment_intent.payment_failed", intent_object(
        "payment_intent_manual_created.json", status="requires_payment_method",
        last_payment_error={"code": "card_declined", "message": "Your card was declined.",
                            "type": "card_error"}))
    assert deliver(client, failed).status_code == 200
    payment = Payment.objects.get(pk=world["stripe"].pk)
    assert (payment.status, payment.last_error_code) == ("requires_payment_method",
                                                         "card_declined")


def test_timestamps_in_the_future_beyond_the_tolerance_are_refused(world, client):
    paid = event("evt_paid", "payment_intent.succeeded",
                 intent_object("payment_intent_captured.json"))
    before = rows()
    response = deliver(client, paid, timestamp=int(time.time()) + WEBHOOK_TOLERANCE_SECONDS + 5)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
    assert "future" in response.json()["detail"]
    future = event("evt_future", "payment_intent.succeeded",
                   intent_object("payment_intent_captured.json"),
                   created=int(time.time()) + WEBHOOK_TOLERANCE_SECONDS + 5)
    response = deliver(client, future)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_payload")
    assert (rows(), WebhookEvent.objects.count()) == (before, 0)
    # Within the tolerance (clock skew) it is accepted.
    response = deliver(client, paid, timestamp=int(time.time()) + WEBHOOK_TOLERANCE_SECONDS - 30)
    assert response.status_code == 200
    assert Payment.objects.get(pk=world["stripe"].pk).status == "succeeded"


@pytest.mark.parametrize("body, where", [
    (b"{}", "id"),
    (b"[]", None),
    (b"null", None),
    (b"42", None),
    (json.dumps({"object": "event", "type": "payment_intent.succeeded"}).encode(), "id"),
    (lambda: event("evt_m", "payment_intent.succeeded", "not an object"), "data.object"),
    (lambda: event("evt_m", "payment_intent.succeeded",
                   intent_object("payment_intent_captured.json", amount="15000")),
     "data.object.amount"),
    (lambda: event("evt_m", "payment_intent.succeeded",
                   intent_object("payment_intent_captured.json", id=None)), "data.object.id"),
    (lambda: event("evt_m", "payment_intent.succeeded",
                   intent_object("payment_intent_captured.json", metadata=[1])),
     "data.object.metadata"),
    (lambda: {**event("evt_m", "payment_intent.succeeded",
                      intent_object("payment_intent_captured.json")), "created": "soon"},
     "created"),
    (lambda: event("evt_m", "charge.refunded",
                   {"id": "ch_1", "object": "charge", "currency": "cad",
                    "payment_intent": INTENT,
                    "refunds": {"data": [{"id": "re_1", "amount": -5}]}}),
     "data.object.refunds.data.0.amount"),
    (lambda: event("evt_m", "payment_intent.succeeded",
                   {**intent_object("payment_intent_captured.json"), "object": "charge"}),
     "data.object.object"),
])
def test_a_signed_but_malformed_event_is_a_400_that_changes_nothing(world, client, body,
                                                                     where):
    body = body() if callable(body) else body
    before = rows()
    response = deliver(client, body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "invalid_payload"
    assert problem["errors"][0]["field"] == "body"
    if where is not None:
        assert problem["detail"].startswith(f"malformed Stripe event: the event's {where} ")
    assert (rows(), WebhookEvent.objects.count()) == (before, 0)


def test_the_transition_table():
    assert can_move("requires_payment_method", "succeeded")
    assert can_move("requires_capture", "succeeded")
    assert not can_move("succeeded", "requires_payment_method")
    assert not can_move("succeeded", "canceled")
    assert not can_move("canceled", "succeeded")
    assert not can_move("requires_capture", "requires_payment_method")
    assert can_move("succeeded", "succeeded")


# --- random sequences ------------------------------------------------------------------------

def _pool(world) -> list[tuple[str, dict, bool]]:
    """(event id, event, is it about our Stripe payment) for every kind of event: ours in
    every state, and foreign ones aimed at each payment by metadata."""
    ours = world["stripe"]
    failed_error = {"code": "card_declined", "message": "Your card was declined.",
                    "type": "card_error"}
    pool = [
        ("evt_auth", event("evt_auth", "payment_intent.amount_capturable_updated",
                           intent_object("payment_intent_requires_capture.json")), True),
        ("evt_paid", event("evt_paid", "payment_intent.succeeded",
                           intent_object("payment_intent_captured.json")), True),
        ("evt_failed", event("evt_failed", "payment_intent.payment_failed", intent_object(
            "payment_intent_manual_created.json", status="requires_payment_method",
            last_payment_error=failed_error)), True),
        ("evt_processing", event("evt_processing", "payment_intent.processing", intent_object(
            "payment_intent_manual_created.json", status="processing")), True),
        ("evt_refund", event("evt_refund", "charge.refunded", {
            "id": "ch_ours", "object": "charge", "amount": 15000, "currency": "cad",
            "payment_intent": INTENT, "refunds": {"object": "list", "data": [
                {"id": "re_dash", "object": "refund", "amount": 5000,
                 "status": "succeeded"}]}}), True),
    ]
    for target in (ours, world["offline"]):
        for kind, fixture, extra in (
                ("payment_intent.succeeded", "payment_intent_captured.json", {}),
                ("payment_intent.payment_failed", "payment_intent_manual_created.json",
                 {"status": "requires_payment_method", "last_payment_error": failed_error}),
                ("payment_intent.canceled", "payment_intent_canceled.json", {})):
            event_id = f"evt_foreign_{kind}_{target.pk}"
            pool.append((event_id, event(event_id, kind, intent_object(
                fixture, id=FOREIGN, metadata={"payment": str(target.pk)}, **extra)), False))
        event_id = f"evt_foreign_refund_{target.pk}"
        pool.append((event_id, event(event_id, "charge.refunded", {
            "id": "ch_foreign", "object": "charge", "amount": 15000, "currency": "cad",
            "payment_intent": FOREIGN, "metadata": {"payment": str(target.pk)},
            "refunds": {"object": "list", "data": [
                {"id": "re_foreign", "object": "refund", "amount": 15000,
                 "status": "succeeded"}]}}), False))
    event_id = "evt_wrong_amount"
    pool.append((event_id, event(event_id, "payment_intent.succeeded", intent_object(
        "payment_intent_captured.json", amount=150, amount_received=150)), False))
    return pool


def test_random_sequences_move_only_our_money_and_success_is_final(world, client, transport):
    pool = _pool(world)
    initial = rows()

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=12))
    def run(sequence):
        # Each example starts from the two fresh payments.
        WebhookEvent.objects.all().delete()
        LedgerEntry.objects.all().delete()
        Refund.objects.all().delete()
        for pk, values in initial.items():
            Payment.objects.filter(pk=pk).update(**dict(zip(PAYMENT_FIELDS, values,
                                                            strict=True)))
        was_succeeded = False
        for index in sequence:  # repeats are duplicate deliveries; any order
            event_id, body, is_ours = pool[index]
            if body["type"] == "payment_intent.amount_capturable_updated":
                transport.reply("GET", f"/v1/payment_intents/{INTENT}",
                                "payment_intent_requires_capture.json")
            before, ledger = rows(), money()
            assert deliver(client, body).status_code == 200
            after = rows()
            if not is_ours:
                assert (after, money()) == (before, ledger), event_id
                assert WebhookEvent.objects.get(event_id=event_id).status == "ignored"
            ours = Payment.objects.get(pk=world["stripe"].pk)
            offline = Payment.objects.get(pk=world["offline"].pk)
            assert ours.intent_id == INTENT
            assert after[offline.pk] == initial[offline.pk]  # no event is ever about it
            if was_succeeded:
                assert (ours.status, ours.last_error_code) == ("succeeded", "")
                assert ours.amount_captured_minor == 15000
            was_succeeded = was_succeeded or ours.status == "succeeded"

    run()
