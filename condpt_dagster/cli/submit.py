"""``condpt materialize --submit URL``: hand the work to a running Dagster deployment through GraphQL.

The deployment's daemon queues and launches the runs (run queue, pools, retries, backfill policy); this
process only launches an asset backfill and, with ``--wait``, follows it to the end.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import click

from condpt_dagster.instance.config import masked_url as masked

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on Error { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numCancelable }
    ... on Error { message }
  }
}"""
RUNNING = {"REQUESTED", "CANCELING", "FAILING"}
SUCCEEDED = {"COMPLETED", "COMPLETED_SUCCESS"}


def graphql_client(url: str):
    """A GraphQL client for the webserver at ``url`` (http[s]://[user:password@]host[:port][/prefix])."""
    from dagster_graphql import DagsterGraphQLClient
    from requests.auth import HTTPBasicAuth

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.ClickException(f"--submit {masked(url)}: expected http(s)://host[:port] of dagster-webserver")
    auth = HTTPBasicAuth(parts.username, parts.password or "") if parts.username else None
    return DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        auth=auth,
        path_prefix=parts.path.rstrip("/"),
        timeout=60,
    )


def _execute(client, url: str, query: str, variables: dict) -> dict:
    from dagster_graphql import DagsterGraphQLClientError

    try:
        return client._execute(query, variables)
    except DagsterGraphQLClientError as exc:
        raise click.ClickException(f"{masked(url)}: {exc}") from exc


def submit_backfill(url: str, names: list[str], shard_keys: list[str] | None) -> str:
    """Launch an asset backfill of ``names`` (the given shards, or every partition); return its id."""
    client = graphql_client(url)
    params: dict = {"assetSelection": [{"path": [name]} for name in names], "title": f"condpt: {','.join(names)}"}
    if shard_keys:
        params["partitionNames"] = shard_keys
    else:
        params["allPartitions"] = True
    result = _execute(client, url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise click.ClickException(f"{masked(url)} refused the backfill: {result.get('message', result)}")
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, poll_seconds: float = 5.0) -> str:
    """Poll until the backfill ends; return its final status."""
    client = graphql_client(url)
    while True:
        answer = _execute(client, url, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if answer["__typename"] != "PartitionBackfill":
            raise click.ClickException(f"{masked(url)}: backfill {backfill_id}: {answer.get('message', answer)}")
        if answer["status"] not in RUNNING:
            return answer["status"]
        time.sleep(poll_seconds)
