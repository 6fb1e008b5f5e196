"""The verification report of a letter as a self-contained HTML page. Pure.

The page has inline styles only: no scripts, no external resources, every value escaped, so it
can be opened from an exported bundle on an offline machine and printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:56em;color:#1b1b1b;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.verdict{padding:.8em 1em;border-radius:6px;font-weight:600}
.ok{background:#e3f4e6;border:1px solid #2e7d32}.bad{background:#fdecea;border:1px solid #c62828}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;border-bottom:1px solid #ddd;padding:.35em .5em;vertical-align:top}
th{width:14em;font-weight:600;color:#444}code{font-size:.9em;word-break:break-all}
ul.reasons li{color:#b71c1c}
"""


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value), quote=True)


def _rows(pairs: Sequence[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{_text(v)}</td></tr>" for k, v in pairs)


def _code(value: object) -> str:
    return f"<code>{_text(value)}</code>"


def _certificate(cert: object) -> str:
    if not isinstance(cert, Mapping):
        return ""
    return (
        "<table>"
        + _rows(
            [
                ("Certificate subject", cert.get("subject")),
                ("Issuer", cert.get("issuer")),
                ("Serial number", cert.get("serial")),
                ("Valid from", cert.get("not_before")),
                ("Valid until", cert.get("not_after")),
            ]
        )
        + f"<tr><th>SHA-256 fingerprint</th><td>{_code(cert.get('fingerprint_sha256'))}</td></tr>"
        + "</table>"
    )


def _signature(sig: Mapping[str, object]) -> str:
    chain = sig.get("chain")
    chain_ok = sig.get("chain_ok")
    chain_text = "not applicable (key managed by tumar)" if chain_ok is None else chain_ok
    parts = [
        f"<h3>{_text(str(sig.get('stage', '')).capitalize())} by {_text(sig.get('signer'))}</h3>",
        "<table>",
        _rows(
            [
                ("Signed at (UTC)", sig.get("signed_at")),
                ("Key kind", sig.get("kind")),
                ("Algorithm", sig.get("algorithm")),
            ]
        ),
        f"<tr><th>Key id</th><td>{_code(sig.get('key_id'))}</td></tr>",
        _rows(
            [
                ("Signature valid", sig.get("signature_valid")),
                ("Content unchanged", sig.get("content_unchanged")),
                ("Certificate chain valid", chain_text),
            ]
        ),
        "</table>",
        _certificate(sig.get("certificate")),
    ]
    if isinstance(chain, list) and len(chain) > 1:
        links = "".join(
            f"<li>{_text(c.get('subject'))}</li>" for c in chain if isinstance(c, Mapping)
        )
        parts.append(f"<p>Chain to the trust anchor:</p><ol>{links}</ol>")
    return "".join(parts)


def render_html(report: Mapping[str, object]) -> str:
    """The HTML page of a report given as its JSON form (``VerificationReport.as_json()``)."""
    ok = bool(report.get("ok"))
    verdict = (
        "The letter is authentic: every signature verifies and nothing changed after signing."
        if ok
        else "The letter could NOT be verified. See the reasons below."
    )
    recipients = report.get("recipients")
    recipient_text = ", ".join(str(r) for r in recipients) if isinstance(recipients, list) else ""
    signatures = report.get("signatures")
    attachments = report.get("attachments")
    reasons = report.get("reasons")
    body = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Verification report: {_text(report.get('subject'))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Verification report of an official letter</h1>",
        f"<p class='verdict {'ok' if ok else 'bad'}'>{escape(verdict)}</p>",
        "<h2>Letter</h2><table>",
        _rows(
            [
                ("Subject", report.get("subject")),
                ("Sender organisation", report.get("sender")),
                ("Recipient organisations", recipient_text),
                ("Outgoing number", report.get("outgoing_number") or None),
                ("Signed by", report.get("signer") or None),
                ("Signed at (UTC)", report.get("when")),
                ("Content unchanged", report.get("content_unchanged")),
                ("Attachments unchanged", report.get("attachments_unchanged")),
                ("Checked at (UTC)", report.get("checked_at")),
            ]
        ),
        f"<tr><th>Letter id</th><td>{_code(report.get('letter_id'))}</td></tr></table>",
    ]
    if isinstance(reasons, list) and reasons:
        items = "".join(f"<li>{_text(r)}</li>" for r in reasons)
        body.append(f"<h2>Reasons</h2><ul class='reasons'>{items}</ul>")
    body.append("<h2>Signatures</h2>")
    if isinstance(signatures, list) and signatures:
        body.extend(_signature(s) for s in signatures if isinstance(s, Mapping))
    else:
        body.append("<p>The letter carries no signature.</p>")
    if isinstance(attachments, list) and attachments:
        body.append("<h2>Attachments</h2><table><tr><th>Name</th><td><b>SHA-256 recorded")
        body.append(" / found</b></td></tr>")
        for a in attachments:
            if not isinstance(a, Mapping):
                continue
            state = "unchanged" if a.get("unchanged") else "CHANGED OR MISSING"
            body.append(
                f"<tr><th>{_text(a.get('name'))}</th><td>{_code(a.get('recorded_sha256'))}<br>"
                f"{_code(a.get('actual_sha256'))}<br>{escape(state)}</td></tr>"
            )
        body.append("</table>")
    body.append("</body></html>")
    return "".join(body)
