"""The operations tests reuse the real SMTP server of the email tests."""

from tests.notifications.conftest import smtp_server

__all__ = ["smtp_server"]
