"""The ceiling for bench_hooks: a bare FastAPI endpoint that only orjson-parses the raw body."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def parse_only(service_id: str, request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(b'{"cards":[]}', media_type="application/json")
