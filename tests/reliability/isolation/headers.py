"""The headers every portal page must carry (docs/security.md)."""

from __future__ import annotations

import re

import httpx


def frame_and_script_policy(response: httpx.Response) -> str | None:
    """None if the page may not be framed and runs no inline script; else what is wrong."""
    csp = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    scripts = directives.get("script-src", directives.get("default-src", []))
    problems = []
    if not scripts or "'unsafe-inline'" in scripts or "'unsafe-eval'" in scripts:
        problems.append(f"script-src {scripts}")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors {directives.get('frame-ancestors')}")
    if response.headers.get("x-frame-options") != "DENY":
        problems.append(f"X-Frame-Options {response.headers.get('x-frame-options')}")
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text, re.I):
        problems.append("an inline <script>")
    if re.search(r"\son[a-z]+\s*=", response.text, re.I):
        problems.append("an inline event handler")
    return "; ".join(problems) or None
