"""Top-level conftest: the NIC fixtures in fixtures/ serve suites/ and tests/.

The plugin itself (options, markers, the `host` fixture, reports) is the
`nictest.plugin` pytest11 entry point, active wherever nictest is installed.
"""
pytest_plugins = ["fixtures.nics", "fixtures.pmd", "fixtures.profiles", "fixtures.reliability_table", "fixtures.sriov",
                  "fixtures.aer", "fixtures.pcie_health"]
