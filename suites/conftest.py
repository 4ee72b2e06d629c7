"""Suite-wide hooks: the evidence fixtures and the "isolation not provided" session summary."""
from fixtures.evidence import (  # noqa: F401 - fixtures and a hook, found by name
    device_evidence,
    kmsg,
    port_evidence,
    pytest_terminal_summary,
)
