"""IOMMU isolation: pure logic (kernel-log parsing, the pass/fail verdict) shared by
the agent's isolation ops and the suites."""
