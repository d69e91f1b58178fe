"""How a run is told: each scenario with its figures and checks, PASS or FAIL, on the terminal and
as Markdown beside the ledger."""

from __future__ import annotations

from collections.abc import Sequence

from chaos.context import Result

MAX_VIOLATIONS = 5


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def scenario_text(r: Result) -> str:
    lines = [f"[{verdict(r.passed)}] {r.number}. {r.title}  ({r.seconds:.0f} s)"]
    for name, value in r.figures:
        lines.append(f"         {name}: {value}")
    for check in r.checks:
        lines.append(f"    {verdict(check.passed)}  {check.name}: {check.detail}")
        if not check.passed:
            for violation in check.violations[:MAX_VIOLATIONS]:
                lines.append(f"            - {violation}")
            if len(check.violations) > MAX_VIOLATIONS:
                lines.append(f"            … and {len(check.violations) - MAX_VIOLATIONS} more")
    return "\n".join(lines) + "\n"


def summary(results: Sequence[Result], expected: int, total_seconds: float) -> str:
    lines = [f"  {verdict(r.passed)}  {r.number}. {r.title} ({r.seconds:.0f} s)" for r in results]
    passed = sum(r.passed for r in results)
    lines.append(
        f"{verdict(passed == len(results) == expected)}: {passed}/{expected} scenarios passed "
        f"in {total_seconds:.0f} s"
    )
    return "\n".join(lines)


def markdown(results: Sequence[Result], total_seconds: float, header: str) -> str:
    lines = [f"# Fault suite run\n\n{header}\n"]
    for r in results:
        lines.append(f"## {r.number}. {r.title} — {verdict(r.passed)} ({r.seconds:.0f} s)\n")
        lines.extend(f"- {name}: {value}" for name, value in r.figures)
        lines.append("")
        lines.append("| check | result | figures |")
        lines.append("| --- | --- | --- |")
        lines.extend(f"| {c.name} | {verdict(c.passed)} | {c.detail} |" for c in r.checks)
        lines.append("")
    lines.append(f"Total: {total_seconds:.0f} s.")
    return "\n".join(lines) + "\n"
