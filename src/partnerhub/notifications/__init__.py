"""Emails: Jinja2 templates per language, a transactional outbox, SMTP delivery.

See :mod:`partnerhub.notifications.service`.
"""
