"""Opaque ids: base64url of partnerhub://<region>/<TYPE>/<uuid>, padded or not."""

from __future__ import annotations

import base64
import uuid

from hypothesis import given
from hypothesis import strategies as st

from partnerhub import ids


@given(st.uuids(), st.sampled_from(["CUSTOMER", "TEMPLATE", "SUBSCRIBER", "LOCATION"]))
def test_round_trip(value: uuid.UUID, kind: str) -> None:
    token = ids.encode(kind, value, "us")
    assert "=" not in token
    assert ids.decode(kind, token) == value
    assert ids.decode(kind, token + "=" * (-len(token) % 4)) == value


def test_shape_is_the_documented_one() -> None:
    value = uuid.uuid4()
    raw = base64.urlsafe_b64decode(ids.encode("CUSTOMER", value, "us") + "==").decode()
    assert raw == f"partnerhub://us/CUSTOMER/{value}"


def test_wrong_type_or_garbage_is_none() -> None:
    value = uuid.uuid4()
    assert ids.decode("TEMPLATE", ids.encode("CUSTOMER", value, "us")) is None
    for junk in ["", "!!!", "a" * 300, "cGFydG5lcmh1YjovL3VzL0NVU1RPTUVSL25vdC1hLXV1aWQ"]:
        assert ids.decode("CUSTOMER", junk) is None


@given(st.text(max_size=60))
def test_decode_never_raises(text: str) -> None:
    ids.decode("CUSTOMER", text)


def test_provisioning_ids_are_unguessable() -> None:
    seen = {ids.new_provisioning_id() for _ in range(1000)}
    assert len(seen) == 1000
    assert all(len(s) == 22 for s in seen)
