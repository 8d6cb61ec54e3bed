"""JUnit XML for conversation-script results, so CI systems show them like any test suite."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from assistant.scripts import ScriptResult


def write_junit(results: list[ScriptResult], path: Path) -> None:
    failures = sum(not result.passed for result in results)
    suite = ET.Element("testsuite", name="conversations", tests=str(len(results)), failures=str(failures))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=str(result.script.path), name=result.script.name)
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=f"{len(result.failure_messages())} expectation(s) failed")
            failure.text = "\n".join(result.failure_messages())
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
