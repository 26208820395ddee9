"""The fast path of ``kit.validators.normalize_email`` answers exactly as email-validator."""

from __future__ import annotations

import random

from email_validator import EmailNotValidError, validate_email

from partnerhub.kit import validators

CASES = [
    "user@example.com",
    "User.Name+tag@Example.COM",
    "Postmaster@Example.com",
    "INFO@sub.example.org",
    "csv12@bench.example",
    "a@b.c",
    "a@b",
    "a@localhost",
    "a@host.local",
    "a@x.test",
    "a@1.in-addr.arpa",
    "a@example.123",
    "a@-bad.example",
    "a@bad-.example",
    "a@under_score.example",
    "a@double..dot.example",
    "a@trailing.dot.",
    "a@.leading.dot",
    ".a@example.com",
    "a.@example.com",
    "a..b@example.com",
    "a@@example.com",
    "a@b@example.com",
    "@example.com",
    "a@",
    "a@[127.0.0.1]",
    '"quoted"@example.com',
    "Name <a@example.com>",
    "a b@example.com",
    "a@xn--bcher-kva.example",
    "a@xn--zz.example",
    "a@XN--BCHER-KVA.EXAMPLE",
    "ü@example.com",
    "a@bücher.example",
    "a@example.com\n",
    "a\t@example.com",
    "!#$%&'*+/=?^_`{|}~-@example.com",
    "a@" + "l" * 63 + ".example",
    "a@" + "l" * 64 + ".example",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "x" * 241 + "@example.com",
    "x" * 242 + "@example.com",
    "a@" + ".".join(["abcdefghi"] * 25) + ".com",
    "a@" + ".".join(["abcdefghi"] * 26) + ".com",
    "a@example.c0m",
    "a@example.-com",
    "a@exa mple.com",
    "a@example.com.",
    "a@ex%ample.com",
]


def reference(text: str) -> str | None:
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


def fast(text: str) -> str | None:
    return validators.normalize_email.__wrapped__(text)


def test_known_shapes_agree() -> None:
    for text in CASES:
        assert fast(text) == reference(text), text
    assert validators._plain("csv12@bench.example") == "csv12@bench.example"  # took the fast path


def test_random_addresses_agree() -> None:
    rng = random.Random(4)
    local_chars = "abcXYZ019.+-_!#'`{}|~\"@ <>\\é"
    domain_chars = "abcXYZ019.-_@ é"
    tlds = ["com", "example", "local", "test", "c0m", "123", "x", "arpa", "xn--p1ai", ""]
    for _ in range(4000):
        local = "".join(rng.choice(local_chars) for _ in range(rng.randint(0, 8)))
        domain = "".join(rng.choice(domain_chars) for _ in range(rng.randint(0, 10)))
        text = f"{local}@{domain}.{rng.choice(tlds)}" if rng.random() < 0.8 else local + domain
        assert fast(text) == reference(text), repr(text)


def test_plausible_addresses_agree() -> None:
    """Mostly valid addresses, so that the fast path's accepting branch is exercised."""
    rng = random.Random(7)
    atext = "abcdefXYZ0189!#$%&'*+/=?^_`{|}~-"
    label = "abcXYZ019-"
    tlds = ["com", "example", "org", "local", "test", "invalid", "c0m", "123", "a", "xn--p1ai"]
    names = ["postmaster", "Info", "SALES", "abuse", "www", "user"]
    fast_valid = 0
    for _ in range(4000):
        if rng.random() < 0.1:
            local = rng.choice(names)
        else:
            parts = ["".join(rng.choice(atext) for _ in range(rng.randint(1, 6)))]
            while rng.random() < 0.3:
                parts.append("".join(rng.choice(atext) for _ in range(rng.randint(0, 4))))
            local = ".".join(parts)
        labels = [
            "".join(rng.choice(label) for _ in range(rng.randint(1, 8)))
            for _ in range(rng.randint(1, 3))
        ]
        text = f"{local}@{'.'.join(labels)}.{rng.choice(tlds)}"
        if rng.random() < 0.05:
            text = "x" * rng.randint(200, 260) + text
        expected = reference(text)
        assert fast(text) == expected, repr(text)
        fast_valid += isinstance(validators._plain(text), str)
    assert fast_valid > 1000  # the accepting branch really ran


def test_a_changed_special_use_list_is_honoured() -> None:
    import email_validator

    assert fast("a@corp.example") == "a@corp.example"
    email_validator.SPECIAL_USE_DOMAIN_NAMES.append("corp.example")
    try:
        assert fast("a@corp.example") is None
        assert reference("a@corp.example") is None
    finally:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("corp.example")
    assert fast("a@corp.example") == "a@corp.example"
