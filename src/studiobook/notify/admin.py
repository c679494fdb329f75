from django.contrib import admin

from studiobook.notify import services
from studiobook.notify.models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "template", "channel", "status", "user", "booking", "attempts",
                    "created_at", "sent_at")
    list_filter = ("status", "channel", "template")
    # The recipient is encrypted at rest: found by its exact address or E.164 number ("=").
    search_fields = ("key", "=recipient", "booking__code", "user__email")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["resend_failed"]

    @admin.action(description="Resend the failed ones")
    def resend_failed(self, request, queryset):
        for notification in queryset.filter(status=Notification.Status.FAILED):
            services.resend(notification)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email", "sms", "language")
    search_fields = ("user__email",)
