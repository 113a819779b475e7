"""No request handler blocks the event loop on the database.

A synchronous query inside an `async def` runs on the event loop. On SQLite every transaction takes the
write lock up front, so such a query waits (up to the busy timeout) for a transaction another coroutine of
the same loop holds across an `await` (the async-run route holds one across the workflow start) — which
cannot finish while the loop is blocked: the API stalls for 30 s and answers 500. The rule: database work
in async code goes through the thread pool (`run_in_threadpool` / `asyncio.to_thread`). A session opened in
async code whose every use goes through the pool says so on its line: `# db: thread pool only`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# db: thread pool only"
SESSION_FACTORIES = {"Session", "session_scope"}


def _sessions_opened_in_async_code(path: Path) -> list[int]:
    source = path.read_text()
    lines = source.splitlines()
    found: list[int] = []

    class Visitor(ast.NodeVisitor):
        def __init__(self) -> None:
            self.stack: list[bool] = []  # True: inside an async def (innermost function decides)

        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
            self.stack.append(True)
            self.generic_visit(node)
            self.stack.pop()

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
            self.stack.append(False)
            self.generic_visit(node)
            self.stack.pop()

        def visit_Lambda(self, node: ast.Lambda) -> None:
            self.stack.append(False)
            self.generic_visit(node)
            self.stack.pop()

        def visit_With(self, node: ast.With) -> None:
            if self.stack and self.stack[-1]:
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call):
                        name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                        if name in SESSION_FACTORIES and MARKER not in lines[node.lineno - 1]:
                            found.append(node.lineno)
            self.generic_visit(node)

    Visitor().visit(ast.parse(source))
    return found


def test_async_handlers_open_no_database_session_on_the_event_loop() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("api", "activities", "edgewise", "workflows")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in _sessions_opened_in_async_code(path)
    ]
    assert offenders == [], f"blocking database work on the event loop (use the thread pool): {offenders}"


def test_the_check_finds_a_session_opened_in_async_code(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "async def handler(engine):\n"
        "    with Session(engine) as session:\n"
        "        return session.get(1)\n"
        "async def fine(engine):\n"
        f"    with Session(engine) as session:  {MARKER}\n"
        "        return await run_in_threadpool(session.get, 1)\n"
        "async def also_fine(engine):\n"
        "    def work():\n"
        "        with session_scope(engine) as session:\n"
        "            return session.get(1)\n"
        "    return await run_in_threadpool(work)\n"
    )
    assert _sessions_opened_in_async_code(sample) == [2]
