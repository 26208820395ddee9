"""``partnerhub doctor`` against the test database and a real SMTP server: everything OK and
exit 0; a broken database URL, an SMTP server that is not there, an invalid setting, a public
bind without a public URL: FAIL with what to fix, exit 1. No mail is sent."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import free_port
from tests.notifications.conftest import Mailbox


def doctor(**settings: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
    env.update({f"PARTNERHUB_{k.upper()}": v for k, v in settings.items()})
    done = subprocess.run(
        [sys.executable, "-m", "partnerhub", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def row(output: str, check: str) -> str:
    found = re.search(rf"│ {check}\s+│ (OK|WARN|FAIL)\s+│", output)
    assert found, f"no row {check!r} in:\n{output}"
    return found.group(1)


def test_all_ok_on_the_test_database(database_url: str, smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    code, out = doctor(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=str(port),
        smtp_security="none",
        public_url="https://hub.example.com",
        host="0.0.0.0",  # noqa: S104 (only read by the doctor; nothing binds)
        metrics_token="a-long-metrics-token-1234",
    )
    assert code == 0, out
    for check in ("configuration", "database", "database version", "migrations", "smtp"):
        assert row(out, check) == "OK", out
    assert row(out, "public url") == "OK"
    assert row(out, "metrics") == "OK"
    assert "PostgreSQL" in out and "EHLO" in out
    assert mailbox.messages == []  # connect and EHLO only


def test_what_fails_says_what_to_fix(database_url: str) -> None:
    code, out = doctor(database_url="postgresql://nobody:secret-pw@127.0.0.1:1/none")
    assert code == 1
    assert row(out, "database") == "FAIL"
    assert "PARTNERHUB_DATABASE_URL" in out
    assert "secret-pw" not in out  # the password is not shown

    closed = free_port()
    code, out = doctor(database_url=database_url, smtp_host="127.0.0.1", smtp_port=str(closed))
    assert code == 1
    assert row(out, "smtp") == "FAIL"
    assert row(out, "database") == "OK"

    code, out = doctor(database_url=database_url, host="0.0.0.0")  # noqa: S104
    assert code == 1
    assert row(out, "public url") == "FAIL"
    assert "PARTNERHUB_PUBLIC_URL" in out

    code, out = doctor(database_url=database_url, log_format="yaml")
    assert code == 1
    assert row(out, "configuration") == "FAIL"
    assert "PARTNERHUB_LOG_FORMAT" in out
