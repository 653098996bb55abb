"""Signed CAP alerts: an XMLDSig enveloped signature (CAP 1.2 §3.3.2.1), verified against pinned certificates.

A source (or POST /cap) that requires a signature names the signer's own certificates, given out of band by
the county: the alert verifies when its signature verifies with one of them. A certificate the alert carries
is ignored and no CA chain is trusted, so no one else's certificate can sign for the county.

The signature is verified over the bytes as received, and the alert then read is what signxml hands back as
signed, never the document around it: an element added or changed outside what was signed cannot slip through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from announcements.cap.alert import Alert, parse_alert, parse_xml
from announcements.cap.refusals import CapRefused, Refusal

DSIG = "http://www.w3.org/2000/09/xmldsig#"
# The Signature a child of <alert> (enveloped, as CAP has it), exactly one reference, and no SHA-1 (signxml's default).
_EXPECTED = SignatureConfiguration(location="./")

Certificates = tuple[x509.Certificate, ...]


def required_trust(require: bool, paths: Sequence[Path], *, switch: str, files: str) -> Certificates | None:
    """What a source's signatures must verify against: its certificates when `require`, else None. ValueError says
    what is wrong in the settings' own names (`switch` on without `files`), or names a file that holds no certificate."""
    if require and not paths:
        raise ValueError(f"{switch} needs `{files}`: the PEM files of the certificates its alerts are signed with")
    certificates = load_certificates(paths)
    return certificates if require else None


def load_certificates(paths: Iterable[Path]) -> Certificates:
    """Every certificate in the PEM files, or ValueError naming the file that cannot be read or holds none."""
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the certificate file {path}: {exc.strerror}") from None
        try:
            found.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise ValueError(f"{path} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)") from None
    return tuple(found)


def signed_part(data: bytes, certificates: Certificates) -> bytes:
    """The alert in `data` as its signature covers it (the signature taken out), or CapRefused: no signature, or one
    that does not verify with any of `certificates`."""
    root = parse_xml(data)
    if root.find(f"{{{DSIG}}}Signature") is None:
        raise CapRefused(
            Refusal.SIGNATURE_MISSING, "the alert is not signed (no ds:Signature in <alert>), and a signature is required here",
            loc=["alert", "Signature"],
        )
    problems: list[str] = []
    for certificate in certificates:
        try:
            result = XMLVerifier().verify(data, x509_cert=certificate, expect_config=_EXPECTED)
        except (InvalidSignature, InvalidInput) as exc:
            problems.append(_why(exc))
            continue
        signed = result.signed_xml
        if not isinstance(signed, etree._Element) or etree.QName(signed) != etree.QName(root):
            problems.append("the signature does not cover the <alert>")
            continue
        return etree.tostring(signed, encoding="utf-8")
    said = "; ".join(dict.fromkeys(problems))
    raise CapRefused(
        Refusal.SIGNATURE_INVALID, f"the signature does not verify: {said}",
        loc=["alert", "Signature"],
    )


def _why(exc: InvalidSignature | InvalidInput) -> str:
    if isinstance(exc, InvalidDigest):
        return f"the alert was changed after it was signed ({exc})"
    if isinstance(exc, InvalidCertificate):
        return f"the certificate cannot be used: {exc}"
    if isinstance(exc, InvalidSignature):
        return "it was not signed with the key of a certificate configured here"
    return f"the signature is malformed: {exc}"


def _read_signed(data: bytes, max_bytes: int, certificates: Certificates) -> Alert:
    parse_alert(data, max_bytes=max_bytes)  # refused as any alert is first: not CAP, schema-invalid (naming the element)...
    return parse_alert(signed_part(data, certificates), max_bytes=max_bytes)


async def read_signed_alert(data: bytes, *, max_bytes: int, certificates: Certificates) -> Alert:
    """The alert in `data` read from what its signature covers, or CapRefused saying why not; off the event loop."""
    return await asyncio.to_thread(_read_signed, data, max_bytes, certificates)
