"""``partnerhub import subscribers``: a file that cannot be read as subscribers exits 2 (no
row to fix) and imports nothing: a bad header before any import is recorded, a CSV error
further in the file when the job reads it (the refused run is on record as failed)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.models import OrgUser, SubscriberImport
from tests.factories import Setup
from tests.subscribers.test_import_cli import cli


async def test_unusable_file_exits_2(db: Database, setup: Setup, tmp_path: Path) -> None:
    bad = tmp_path / "colours.csv"
    bad.write_text("email,colour\nx@y.example,red\n")
    code, out = await cli(str(db.url), str(bad), "--customer", setup.id)
    assert code == 2, out
    assert "unknown column 'colour'" in out
    late = tmp_path / "late.csv"
    late.write_text("email,package\na@y.example,webex_meetings\nb@y.example," + "p" * 200_000)
    code, out = await cli(str(db.url), str(late), "--customer", setup.id)
    assert code == 2, out
    assert "csv: line 3: field larger than field limit" in out
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(OrgUser.id)))).scalar_one() == 0
        statuses = (await session.execute(select(SubscriberImport.status))).scalars().all()
    assert statuses == ["failed"]  # the second file only
