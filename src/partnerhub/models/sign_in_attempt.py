"""Attempt counters of the sign-in throttle (``kit.ratelimit.attempt``), one row per key.

A key names what is throttled: an email address (known or not: the lock-out), a client
address, a reset request. ``attempts`` counts the attempts since ``started``; when it reaches
the rule's limit the key is locked until ``locked_until``. After ``expires`` (the end of the
counting window, or of the lock) the next attempt starts a new count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base


class SignInAttempt(Base):
    __tablename__ = "sign_in_attempts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    started: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    expires: Mapped[datetime] = mapped_column(index=True)
