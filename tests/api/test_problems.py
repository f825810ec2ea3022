"""Each problem type is answered with the one status it carries; only `http-error` takes the refusal's own."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest

from api.problems import Problem, ProblemType, problem_response


def test_every_problem_type_carries_an_error_status() -> None:
    for kind in ProblemType:
        assert isinstance(kind.status, HTTPStatus) and kind.status >= 400, kind
    assert ProblemType("not-found") is ProblemType.NOT_FOUND and ProblemType.NOT_FOUND == "not-found"


@pytest.mark.parametrize("kind", list(ProblemType))
def test_a_problem_is_answered_with_its_types_status(kind: ProblemType) -> None:
    raised = Problem(kind, "why")
    assert raised.status == kind.status
    response = problem_response(kind, "why", instance="/v1/x")
    body = json.loads(response.body)
    assert response.status_code == body["status"] == kind.status
    assert body["type"] == f"/problems/{kind.value}" and body["title"] == kind.status.phrase


def test_only_http_errors_take_another_status() -> None:
    assert Problem(ProblemType.HTTP, "method", status=405).status == 405
    assert problem_response(ProblemType.HTTP, "method", status=HTTPStatus.METHOD_NOT_ALLOWED).status_code == 405
    with pytest.raises(ValueError, match="NOT_FOUND"):
        Problem(ProblemType.NOT_FOUND, "gone", status=410)
