"""PLACEHOLDER — replaced by the sandbox implementation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI


def create_app(state_dir: Path, seed: int = 7) -> FastAPI:
    app = FastAPI()

    @app.get("/_sandbox/accounts")
    def accounts() -> list[dict[str, object]]:
        return []

    return app
