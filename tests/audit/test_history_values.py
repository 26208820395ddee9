"""The history's before/after values are shown by their names in the reader's language:
packages, roles and customer statuses never by their ids (issue: history people can read)."""

from __future__ import annotations

from partnerhub.audit.views import _value
from partnerhub.portal.i18n import translations


def test_catalogue_values_are_named_in_italian() -> None:
    it = translations("it").gettext
    assert _value("provisioned", "status", it) == "Provisioning completato"
    assert _value(["full_admin"], "roles", it) == "Amministratore completo"
    assert _value("webex_calling", "package", it) == it("Webex Calling")
    assert "webex_calling" not in _value(["webex_calling", "webex_meetings"], "packages", it)


def test_other_values_are_shown_as_they_are() -> None:
    it = translations("it").gettext
    assert _value("Pizzeria Roma", "name", it) == "Pizzeria Roma"
    assert _value("provisioned", "name", it) == "provisioned"  # not a status field
    assert _value(None, "status", it) == "—"
    assert _value({"status": "updating"}, "customer", it) == "status: Aggiornamento in corso"
