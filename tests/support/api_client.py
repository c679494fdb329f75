"""The ``api`` fixture: a JSON client for /api with bearer tokens."""

from __future__ import annotations

import json

import pytest
from django.test import Client


class Api:
    """A JSON client: ``api.post(path, body, user=...)`` returns (status, parsed body)."""

    def __init__(self, token_for):
        self.client = Client()
        self.token_for = token_for

    def call(self, method: str, path: str, body=None, *, user=None, raw: str | None = None,
             headers: dict | None = None):
        extra = dict(headers or {})
        if user is not None:
            extra |= self.token_for(user)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client, method)(f"/api{path}", data=data,
                                                content_type="application/json", **extra)
        self.last = response
        parsed = json.loads(response.content) if response.content else None
        return response.status_code, parsed

    def get(self, path, **kw):
        return self.call("get", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("post", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("put", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("delete", path, **kw)


@pytest.fixture
def api(token_for):
    return Api(token_for)
