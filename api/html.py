"""Plain HTML pages of our own: our stylesheet, no script, nothing from another origin."""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.responses import HTMLResponse

WEB = Path(__file__).resolve().parent / "web"

# These pages run no script and load only our stylesheet; the browser is told so, which
# also keeps anything echoed into them (a session id from the URL) from ever executing.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def html_page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    """A complete page around ``body``, which is markup the caller has already escaped.

    Args:
        title: plain text for the tab and the heading; escaped here.
        body: HTML for the main section.
        status_code: the HTTP status the page answers with.
    """
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(title)} · Liveclass</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header><p><a href="/">Liveclass</a></p></header>
  <main>
    <h1>{escape(title)}</h1>
{body}
  </main>
</body>
</html>
"""
    return HTMLResponse(
        page,
        status_code=status_code,
        headers={"content-security-policy": PAGE_POLICY, "cache-control": "no-store"},
    )
