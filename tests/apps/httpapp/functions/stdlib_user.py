"""Imports the standard library's http package although functions/http.py exists."""

import http.client
from http import HTTPStatus

from livebase import query


@query(args={})
def reason(ctx):
    return {
        "client": http.client.responses[404],
        "status": HTTPStatus.CREATED.phrase,
        "file": http.__file__,
    }
