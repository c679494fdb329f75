from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "studiobook.payments"
    label = "payments"

    def ready(self) -> None:
        from studiobook.bookings.billing import register
        from studiobook.payments.services import PaymentsBilling

        register(PaymentsBilling())

        from studiobook.jobs import register_periodic
        from studiobook.payments.services import charge_due_balances

        register_periodic("payments.charge_due_balances", 300, charge_due_balances)

        from django.conf import settings

        from studiobook.payments.recovery import recover

        register_periodic("payments.recover", settings.STUDIOBOOK_RECOVERY_SWEEP_SECONDS,
                          recover)
