"""Parsing a bulk import's phone numbers, once each, beside the checking: in helper processes
for a large file (parsing is the largest cost of a big file), here otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys

from partnerhub.catalog import phones

log = logging.getLogger(__name__)

PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))  # helper processes for a large file
YIELD_EVERY = 500  # numbers parsed here between hand-backs of the event loop


PARSER = (
    "import json, sys\n"
    "from partnerhub.catalog.phones import parse_e164_many\n"
    "for line in sys.stdin:\n"
    "    sys.stdout.write(json.dumps(parse_e164_many(json.loads(line))) + '\\n')\n"
    "    sys.stdout.flush()\n"
)


class _Helper:
    """A helper process (``python -c PARSER``) answering one JSON line of parsed numbers
    for each JSON line of raw numbers, one batch at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lock = asyncio.Lock()

    @classmethod
    async def launch(cls) -> _Helper:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PARSER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 24,
        )
        return cls(process)

    async def parse(self, batch: list[str]) -> list[str | None]:
        async with self.lock:
            stdin, stdout = self.process.stdin, self.process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(json.dumps(batch).encode() + b"\n")
            await stdin.drain()
            answer = json.loads(await stdout.readline())
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise OSError("the number parser answered badly")
        return answer

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Phones:
    """Parses the file's phone numbers once each, into ``parsed``, a batch per chunk of rows:
    here, or, for a large file (``helpers``), in helper processes (plain subprocesses running
    the same :func:`~partnerhub.catalog.phones.parse_e164_many`; nothing of this process is
    copied or re-imported), so that parsing (about 80 µs a number, the largest cost of a big
    file) runs beside the checking. A helper that cannot start or fails only means parsing
    here."""

    def __init__(self, parsed: dict[str, str | None], helpers: int) -> None:
        self.parsed = parsed
        self.helpers = helpers
        self.workers: list[asyncio.Task[_Helper]] = []
        self.turn = 0

    async def batch(self, raws: list[str]) -> None:
        """Parse those of ``raws`` not parsed (or being parsed) yet. A number first seen in
        an earlier chunk is that chunk's: its facts are loaded before this chunk's."""
        new = [raw for raw in dict.fromkeys(raws) if raw not in self.parsed]
        for raw in new:
            self.parsed[raw] = None
        if not new:
            return
        results: list[str | None] | None = None
        if self.helpers:
            if not self.workers:
                self.workers = [asyncio.create_task(_Helper.launch()) for _ in range(self.helpers)]
            worker = self.workers[self.turn % len(self.workers)]
            self.turn += 1
            try:
                results = await (await worker).parse(new)
            except (OSError, ValueError, EOFError, asyncio.IncompleteReadError) as exc:
                log.warning("parsing numbers here (helper process: %s)", exc)
        if results is None:
            results = []
            for done, raw in enumerate(new, 1):
                results.append(phones.parse_e164(raw))
                if done % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        parsed = self.parsed
        for raw, e164 in zip(new, results, strict=True):
            parsed[raw] = raw if e164 == raw else e164  # one string when already E.164

    async def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(BaseException):
                await (await worker).close()
        self.workers = []
