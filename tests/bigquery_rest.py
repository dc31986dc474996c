"""BigQuery's REST API answered in memory, under a real ``google.cloud.bigquery.Client``.

Google's client and the provider's hooks and operators run unchanged; only the HTTP session
under the client is replaced (``Client(_http=...)``), so what is mocked is the service itself,
with the resource shapes of its REST reference (https://cloud.google.com/bigquery/docs/reference/rest):
``jobs.insert`` answers a job that is ``RUNNING``, as the service answers all but the quickest;
it is ``DONE`` from the next ``jobs.get`` or ``getQueryResults`` on (which says
``jobComplete: false`` first), so the client's own waiting runs (a load job gets the
``outputRows`` a test chose). ``jobs.get`` returns it, ``jobs.getQueryResults`` the rows a test chose for the
query (its configuration: text and parameters; none by default), and ``tables.get`` the
``numRows`` of a table the test named (for others the service's ``notFound``; ``tables.delete``
answers the same way, 204 or ``notFound``, each kept in ``tables_deleted``; a deleted table is
gone from then on), ``tables.list`` the tables a test named for the dataset (in pages of
``maxResults``, or ``list_page`` when the request sets none, with ``nextPageToken``s; each
listing kept in ``tables_listed``), ``datasets.get``
every dataset unless the test says otherwise (each kept in ``datasets_read``). A load job sent with its data
(``Client.load_table_from_file``'s resumable upload: the job, then the data in ``PUT`` chunks,
https://cloud.google.com/bigquery/docs/reference/api-uploads) is inserted once its last chunk
arrives, its data kept in ``uploads`` by job id. Every inserted job is kept in ``jobs``, in order, as sent (its
``jobReference`` as the client wrote it), every table read in ``tables_read``; a request it does
not know is answered 404 and kept in ``unknown``.

The jobs run as the orchestration account with the grants infra/ gives it (``bigquery.jobUser`` on
the project, ``bigquery.dataEditor`` on the datasets), so a statement that needs more fails as
BigQuery fails it: ``CREATE SCHEMA`` needs ``bigquery.datasets.create`` on the project
(https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language#create_schema_statement),
``IF NOT EXISTS`` or not (BigQuery checks the permission first: dbt-labs/dbt-external-tables#354);
the job ends ``DONE`` with an ``accessDenied`` error result.

Two things of the service matter to how the client reads results, and are kept:

* a query job with results gets an anonymous ``destinationTable`` (the service writes every
  query's results to one); the client reads big results from it with the Storage Read API;
* ``getQueryResults`` pages: a response holds at most ``maxResults`` rows and is limited to
  ``page_bytes`` (the service's 10 MB, https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query:
  "responses are also limited to 10 MB"), with a ``pageToken`` for the rest. Every
  ``getQueryResults`` request's parameters are kept in ``result_requests``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

#: A query's result: (schema fields as in the REST ``TableSchema``, rows as Python values).
Result = tuple[list[dict[str, Any]], list[tuple[Any, ...]]]

_JOBS = re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs$")
_UPLOAD = re.compile(r"^/upload/bigquery/v2/projects/([^/]+)/jobs$")
_JOB = re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs/([^/]+)$")
_RESULTS = re.compile(r"^/bigquery/v2/projects/([^/]+)/queries/([^/]+)$")
_CREATE_SCHEMA = re.compile(r"^\s*CREATE\s+SCHEMA\b", re.IGNORECASE | re.MULTILINE)


def _denied(project: str, permission: str) -> dict[str, str]:
    return {
        "reason": "accessDenied",
        "message": f"Access Denied: Project {project}: User does not have {permission} permission in project {project}.",
    }


#: The service's limit on one response's size (jobs.query, jobs.getQueryResults).
PAGE_BYTES = 10 * 1024 * 1024
_TABLE = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$")
_DATASET = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)$")
_TABLES = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables$")


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [{"v": _cell(v)} for v in value]
    return None if value is None else str(value)


class FakeBigQueryREST:
    """An ``http`` for ``google.cloud.bigquery.Client``: ``request(method, url, ...)`` → response."""

    is_mtls = False  # read by google-cloud-core's connection to pick the endpoint

    def __init__(
        self,
        results: Callable[[dict[str, Any]], Result | None] = lambda query: None,
        loaded_rows: Callable[[dict[str, Any]], int | dict[str, str]] = lambda load: 0,
        table_rows: Callable[[str], int | None] = lambda table: None,
        page_bytes: int = PAGE_BYTES,
        datasets: Callable[[str], bool] = lambda dataset: True,
        tables: Callable[[str], Sequence[str] | None] = lambda dataset: None,
        list_page: int = 50,
    ) -> None:
        self.results = results  # rows for a query, from its configuration.query
        # a load job's outputRows, from its configuration.load; or the error result it ends with
        self.loaded_rows = loaded_rows
        self.table_rows = table_rows  # tables.get's numRows, by "project.dataset.table" (None: 404)
        self.datasets = datasets  # whether datasets.get finds "project.dataset"
        self.tables = tables  # tables.list's table ids, by "project.dataset" (None: none)
        self.list_page = list_page
        self.tables_listed: list[str] = []
        self._gone: set[str] = set()  # deleted: no longer listed, found or deletable
        self.jobs: list[dict[str, Any]] = []
        self.tables_read: list[str] = []
        self.tables_deleted: list[str] = []
        self.datasets_read: list[str] = []
        self.result_requests: list[dict[str, str]] = []
        self.uploads: dict[str, bytes] = {}
        self._sessions: dict[str, tuple[dict[str, Any], bytearray]] = {}
        self.page_bytes = page_bytes
        self.unknown: list[tuple[str, str]] = []
        self._by_id: dict[str, dict[str, Any]] = {}

    def request(
        self, method: str, url: str, headers: Any = None, data: Any = None, **_: Any
    ) -> requests.Response:
        response = self._route(method, url, headers, data)
        response.request = requests.Request(method, url).prepare()  # errors name the request
        return response

    def _route(self, method: str, url: str, headers: Any, data: Any) -> requests.Response:
        path = urlparse(url).path
        if method == "POST" and (m := _JOBS.match(path)):
            return self._respond(self._insert(m[1], json.loads(data)))
        if (m := _UPLOAD.match(path)) and "uploadType=resumable" in url:
            return self._upload(method, url, m[1], headers or {}, data)
        if method == "GET" and (m := _JOB.match(path)) and m[2] in self._by_id:
            return self._respond(self._finish(self._by_id[m[2]]))
        if method == "GET" and (m := _TABLE.match(path)):
            table = {"projectId": m[1], "datasetId": m[2], "tableId": m[3]}
            self.tables_read.append(f"{m[1]}.{m[2]}.{m[3]}")
            rows = self.table_rows(f"{m[1]}.{m[2]}.{m[3]}")
            if (
                rows is None or f"{m[1]}.{m[2]}.{m[3]}" in self._gone
            ):  # the service's answer for a table that does not exist
                return self._not_found(f"Table {m[1]}:{m[2]}.{m[3]}")
            return self._respond({"kind": "bigquery#table", "tableReference": table, "numRows": str(rows)})
        if method == "DELETE" and (m := _TABLE.match(path)):
            name = f"{m[1]}.{m[2]}.{m[3]}"
            self.tables_deleted.append(name)
            made = self.table_rows(name) is not None or m[3] in (self.tables(f"{m[1]}.{m[2]}") or ())
            if not made or name in self._gone:  # e.g. a failed load job's, never made
                return self._not_found(f"Table {m[1]}:{m[2]}.{m[3]}")
            self._gone.add(name)
            response = requests.Response()
            response.status_code = 204  # tables.delete: "If successful, the response body is empty."
            response._content = b""
            return response
        if method == "GET" and (m := _TABLES.match(path)):
            return self._list_tables(m[1], m[2], {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()})
        if method == "GET" and (m := _DATASET.match(path)):
            self.datasets_read.append(f"{m[1]}.{m[2]}")
            if not self.datasets(f"{m[1]}.{m[2]}"):
                return self._not_found(f"Dataset {m[1]}:{m[2]}")
            return self._respond(
                {"kind": "bigquery#dataset", "datasetReference": {"projectId": m[1], "datasetId": m[2]}}
            )
        if method == "GET" and (m := _RESULTS.match(path)) and m[2] in self._by_id:
            params = {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}
            self.result_requests.append(params)
            job = self._by_id[m[2]]
            if job["status"]["state"] != "DONE":
                self._finish(job)
                return self._respond({"kind": "bigquery#getQueryResultsResponse",
                                      "jobReference": job["jobReference"], "jobComplete": False})  # fmt: skip
            return self._respond(self._query_results(job, params))
        self.unknown.append((method, url))
        return self._respond({"error": {"code": 404, "message": f"not faked: {method} {path}"}}, 404)

    def _upload(self, method: str, url: str, project: str, headers: Any, data: Any) -> requests.Response:
        """A resumable upload: ``POST`` the job (→ the session's ``Location``), then ``PUT`` the data
        in chunks (``Content-Range: bytes a-b/total``, total ``*`` until the last: 308 until then)."""
        if method == "POST":
            session = f"s{len(self._sessions) + 1}"
            self._sessions[session] = (json.loads(data), bytearray())
            response = self._respond({})
            response.headers["Location"] = f"{url}&upload_id={session}"
            return response
        job, received = self._sessions[parse_qs(urlparse(url).query)["upload_id"][0]]
        received += data if isinstance(data, bytes) else data.read()
        total = headers["content-range"].rsplit("/", 1)[1]
        if total == "*" or len(received) < int(total):
            response = self._respond({}, 308)
            response.headers["Range"] = f"bytes=0-{len(received) - 1}"
            return response
        resource = self._insert(project, job)
        self.uploads[resource["jobReference"]["jobId"]] = bytes(received)
        return self._respond(resource)

    def _insert(self, project: str, job: dict[str, Any]) -> dict[str, Any]:
        reference = {"projectId": project, **job.get("jobReference", {})}
        reference.setdefault("jobId", f"job_{len(self.jobs) + 1}")
        now = str(int(time.time() * 1000))
        resource = {
            "kind": "bigquery#job",
            "id": f"{project}:{reference.get('location', 'US')}.{reference['jobId']}",
            "jobReference": reference,
            "configuration": job.get("configuration", {}),
            "status": {"state": "RUNNING"},
            "statistics": {"creationTime": now, "startTime": now},
        }
        query = resource["configuration"].get("query")
        if query is not None and "destinationTable" not in query and self.results(query) is not None:
            anonymous = f"anon{len(self.jobs) + 1:040x}"
            query["destinationTable"] = {
                "projectId": project,
                "datasetId": f"_{anonymous[4:]}",
                "tableId": anonymous,
            }
        if query is not None and _CREATE_SCHEMA.search(query.get("query", "")):
            resource["status"] = {
                "state": "DONE",
                "errorResult": _denied(project, "bigquery.datasets.create"),
            }
            resource["status"]["errors"] = [resource["status"]["errorResult"]]
        if "load" in resource["configuration"]:
            rows = self.loaded_rows(resource["configuration"]["load"])
            if isinstance(rows, dict):  # the job ends DONE with this error result, first in its errors
                resource["status"] = {"state": "DONE", "errorResult": rows, "errors": [rows]}
            else:
                resource["statistics"]["load"] = {"outputRows": str(rows), "badRecords": "0"}
        self.jobs.append(job)
        self._by_id[reference["jobId"]] = resource
        return json.loads(json.dumps(resource))  # as it was when inserted, whatever happens next

    @staticmethod
    def _finish(job: dict[str, Any]) -> dict[str, Any]:
        if job["status"]["state"] != "DONE":
            job["status"] = {"state": "DONE"}
            job["statistics"]["endTime"] = str(int(time.time() * 1000))
        return job

    def _query_results(self, job: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        fields, rows = self.results(job["configuration"].get("query", {})) or ([], [])
        answer: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
            "totalRows": str(len(rows)),
        }
        if fields:
            answer["schema"] = {"fields": fields}
            start = int(params.get("pageToken", params.get("startIndex", "0")))
            limit = int(params["maxResults"]) if "maxResults" in params else len(rows)
            page, size = [], len(json.dumps(answer))
            for row in rows[start : start + limit]:
                cells = {"f": [{"v": _cell(v)} for v in row]}
                size += len(json.dumps(cells)) + 1
                if page and size > self.page_bytes:
                    break
                page.append(cells)
            if page:  # JSON leaves out an empty repeated field (maxResults=0: no rows, no token)
                answer["rows"] = page
                if start + len(page) < len(rows):
                    answer["pageToken"] = str(start + len(page))
        return answer

    def _list_tables(self, project: str, dataset: str, params: dict[str, str]) -> requests.Response:
        """``tables.list`` (https://cloud.google.com/bigquery/docs/reference/rest/v2/tables/list):
        a ``TableList`` page; the page token here is the next table's index."""
        self.tables_listed.append(f"{project}.{dataset}")
        if not self.datasets(f"{project}.{dataset}"):
            return self._not_found(f"Dataset {project}:{dataset}")
        listed = self.tables(f"{project}.{dataset}") or ()
        ids = [t for t in listed if f"{project}.{dataset}.{t}" not in self._gone]
        start, size = int(params.get("pageToken", 0)), int(params.get("maxResults", self.list_page))
        page = ids[start : start + size]
        answer: dict[str, Any] = {
            "kind": "bigquery#tableList",
            "etag": f"etag-{len(self.tables_listed)}",
            "totalItems": len(ids),
            "tables": [
                {
                    "kind": "bigquery#table",
                    "id": f"{project}:{dataset}.{t}",
                    "tableReference": {"projectId": project, "datasetId": dataset, "tableId": t},
                    "type": "TABLE",
                    "creationTime": "1764979200000",
                }
                for t in page
            ],
        }
        if start + size < len(ids):
            answer["nextPageToken"] = str(start + size)
        return self._respond(answer)

    def _not_found(self, what: str) -> requests.Response:
        error = {"reason": "notFound", "message": f"Not found: {what}"}
        return self._respond({"error": {"code": 404, "message": error["message"], "errors": [error]}}, 404)

    @staticmethod
    def _respond(body: dict[str, Any], status: int = 200) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response


def client_on(fake: FakeBigQueryREST, project: str | None, location: str | None = None) -> Any:
    """A real BigQuery client whose HTTP requests the fake answers."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=project, location=location, credentials=AnonymousCredentials(), _http=fake)


def patched_get_client(fake: FakeBigQueryREST) -> Any:
    """``BigQueryHook.get_client`` patched to build a client on ``fake`` with the project and
    location it is given (none given: none set, so a job sent without them shows in ``jobs``)."""
    from unittest import mock

    def get_client(self: Any = None, project_id: str | None = None, location: str | None = None) -> Any:
        return client_on(fake, project_id or "no-project-given", location)

    return mock.patch("airflow.providers.google.cloud.hooks.bigquery.BigQueryHook.get_client", get_client)
