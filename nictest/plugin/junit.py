"""The run's JUnit <testsuite> properties (nictest commit, hosts, summary rows, end state).

Why not `record_testsuite_property`: it is a fixture, so it is called by a test in
the process that runs the tests, but these properties exist only in the controller
after the last test (the summary of every worker's reports, the NICs' end state read
after the last restore). Under pytest-xdist the controller runs no test and no
fixture, and a worker's `record_testsuite_property` is a no-op (junitxml opens no
LogXML on workers and xdist forwards no suite properties: pytest issue #7767, still
so in pytest 9.1 / xdist 3.8). The controller's LogXML object is reachable only
through the private `_pytest.junitxml.xml_key`. What is public on the controller is
the file `--junitxml` names, in the format pytest writes: the properties are added
to it once junitxml has written it (the second half of a wrapper around
pytest_sessionfinish runs after every plain implementation, junitxml's included).
Per-test figures stay `record_property` (xdist carries those back with each report).
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Iterable, List, Tuple

import pytest

_PROPERTIES = pytest.StashKey[List[Tuple[str, str]]]()
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")   # characters XML 1.0 cannot carry


def remember(config, properties: Iterable[Tuple[str, object]]) -> None:
    """Properties for the controller's JUnit file (written after junitxml writes it)."""
    config.stash[_PROPERTIES] = [(name, _NOT_XML.sub("?", str(value))) for name, value in properties]


def add_to_file(path: str, properties: List[Tuple[str, str]]) -> None:
    """Append <property> elements to every <testsuite> of a JUnit file (its <properties> first)."""
    tree = ET.parse(path)
    root = tree.getroot()
    for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        for name, value in properties:
            ET.SubElement(props, "property", name=name, value=value)
    tree.write(path, encoding="utf-8", xml_declaration=True)


class SuiteProperties:
    """Registered on the controller only (workers write no JUnit file)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session):
        result = yield
        path = session.config.getoption("xmlpath", None)
        properties = session.config.stash.get(_PROPERTIES, [])
        if path and properties and os.path.isfile(path):
            add_to_file(path, properties)
        return result
