"""POST /api/webhooks/stripe: Stripe's events, verified with the SDK."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Router

from studiobook.api import problems
from studiobook.payments import services as payments
from studiobook.payments.gateways import StripeGateway, WebhookSignatureError

router = Router(tags=["webhooks"])


@router.post("/stripe", auth=None, include_in_schema=True)
def stripe_webhook(request):
    """Verify ``Stripe-Signature`` (HMAC-SHA256, 300 s tolerance either way,
    https://docs.stripe.com/webhooks#verify-events) and apply the event once. A bad signature
    (code ``invalid_signature``) or a signed body that is not a well-formed Stripe event
    (code ``invalid_payload``, naming the field) is a 400 that changes nothing; a duplicate
    delivery is a 200 no-op; an event about money this deployment did not create is stored
    as ``ignored`` with its reason (``payments.services.handle_stripe_event``)."""
    from django.conf import settings

    gateway = StripeGateway(settings.STRIPE_SECRET_KEY or "sk_unset",
                            settings.STRIPE_WEBHOOK_SECRET)
    try:
        event = gateway.parse_webhook(request.body, request.headers.get("Stripe-Signature"))
    except WebhookSignatureError as error:
        if error.code == "invalid_payload":
            return problems.problem(400, f"malformed Stripe event: {error.message}",
                                    code="invalid_payload",
                                    errors=[{"field": "body", "rule": "stripe_event",
                                             "message": error.message}])
        return problems.problem(400, f"invalid Stripe signature: {error}",
                                code="invalid_signature",
                                errors=[{"field": "Stripe-Signature", "rule": "signature",
                                         "message": str(error)}])
    record = payments.handle_stripe_event(event)
    return HttpResponse(f'{{"received": true, "status": "{record.status}"}}',
                        content_type="application/json")
