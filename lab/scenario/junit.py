"""JUnit XML for CI: one testcase per scenario run, grouped in one suite per theme."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lab.scenario.engine import ScenarioResult


def junit_xml(results: list[ScenarioResult], suite_name: str = "wirelab") -> str:
    root = ET.Element("testsuites", name=suite_name)
    by_theme: dict[str, list[ScenarioResult]] = {}
    for result in results:
        by_theme.setdefault(result.scenario.theme, []).append(result)
    for theme, items in by_theme.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{suite_name}.{theme}",
            tests=str(len(items)),
            failures=str(sum(r.status == "failed" for r in items)),
            errors=str(sum(r.status in ("error", "interrupted") for r in items)),
            skipped=str(sum(r.status == "skipped" for r in items)),
            time=f"{sum(r.duration for r in items):.3f}",
        )
        for result in items:
            name = result.scenario.name + (f" [{result.iteration}]" if result.iteration > 1 else "")
            case = ET.SubElement(
                suite,
                "testcase",
                name=name,
                classname=f"scenarios.{theme}",
                time=f"{result.duration:.3f}",
            )
            case.set("file", str(result.scenario.path))
            if result.status == "failed":
                node = ET.SubElement(case, "failure", message=result.failure_line())
                node.text = _details(result)
            elif result.status in ("error", "interrupted"):
                node = ET.SubElement(case, "error", message=result.failure_line() or result.status)
                node.text = _details(result)
            elif result.status == "skipped":
                ET.SubElement(case, "skipped", message=result.reason)
            out = ET.SubElement(case, "system-out")
            out.text = f"{result.scenario.summary}\nlesson: {result.scenario.lesson}"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _details(result: ScenarioResult) -> str:
    lines = []
    for record in result.records:
        lines.append(
            f"[{record.status}] {record.step.phase}: {record.step.name} ({record.duration:.3f}s)"
        )
        for rec, outcome in record.failures():
            lines.append(f"    {rec.step.name}: {outcome.line()}")
        if record.error:
            lines.append(f"    {record.error}")
    for action in result.rollback:
        if not action.ok:
            lines.append(f"rollback failed: {action.what}: {action.detail}")
    lines += [f"left behind: {item}" for item in result.leftovers]
    return "\n".join(lines)


def write_junit(path: Path, results: list[ScenarioResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results), encoding="utf-8")
