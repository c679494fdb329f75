"""The studio dashboard, for a studio's staff and admins (``/dashboard/<slug>/``)."""
