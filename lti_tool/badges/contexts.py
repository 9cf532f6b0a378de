"""The JSON-LD context documents the badges name, vendored: nothing is fetched from the internet at run time.

Verifiers (and the tests' validators) resolve a context URL with `document_for(url)`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent / "contexts"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_V2 = "https://w3id.org/openbadges/v2"

FILES = {
    VC_V2: "credentials-v2.json",
    OB_V3: "ob-v3p0-context-3.0.3.json",
    OB_V2: "openbadges-v2.json",
    "https://openbadgespec.org/v2/context.json": "openbadges-v2.json",
    "https://w3id.org/openbadges/v1": "openbadges-v1.json",
    "https://w3id.org/security/data-integrity/v2": "security-data-integrity-v2.json",
    "https://w3id.org/security/multikey/v1": "security-multikey-v1.json",
}


@cache
def document_for(url: str) -> dict:
    """The context document of a known URL; KeyError for any other (never a network call)."""
    return json.loads((HERE / FILES[url.split("#")[0]]).read_text())
