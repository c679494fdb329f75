from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "studiobook.payments"
    label = "payments"

    def ready(self) -> None:
        from studiobook.bookings.billing import register
        from studiobook.payments.services import PaymentsBilling

        register(PaymentsBilling())
