"""The informers' indexes (one pair per key until a second object contributes) and what an
informer keeps of each object it delivers."""

from __future__ import annotations

import gc
import json
from typing import Any

from agenttasks.controller.index import Index
from agenttasks.kube.connection import Connection
from agenttasks.kube.watching import Informer, Resource, _seen, _vanished


def body(uid: str, *keys: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "ns"}, "keys": list(keys)}


def by_keys(b: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {("ns", k): b["metadata"]["uid"] for k in b["keys"]}


def test_contributions_are_replaced_and_removed_per_object() -> None:
    index: Index[str] = Index(by_keys)
    index.apply("ADDED", body("u1", "a"))
    assert list(index[("ns", "a")]) == ["u1"]
    index.apply("ADDED", body("u2", "a", "b"))  # a second contributor to "a"
    assert sorted(index[("ns", "a")]) == ["u1", "u2"] and list(index[("ns", "b")]) == ["u2"]
    index.apply("MODIFIED", body("u2", "b"))  # u2 no longer names "a"
    assert list(index[("ns", "a")]) == ["u1"]
    index.apply("DELETED", body("u1"))
    assert ("ns", "a") not in index and list(index) == [("ns", "b")]
    index.apply("MODIFIED", body("u2"))  # contributes nothing now
    assert len(index) == 0


def test_the_last_of_several_contributors_leaves_the_key_alone() -> None:
    index: Index[str] = Index(by_keys)
    for uid in ("u1", "u2", "u3"):
        index.apply("ADDED", body(uid, "a"))
    for uid in ("u2", "u1"):
        index.apply("DELETED", body(uid))
    assert list(index[("ns", "a")]) == ["u3"]
    index.apply("DELETED", body("u2"))  # already gone: nothing changes
    assert list(index[("ns", "a")]) == ["u3"]


def test_an_informer_keeps_a_small_record_and_reports_a_vanished_object_from_it() -> None:
    meta = {"uid": "u", "name": "t", "namespace": "team", "labels": {"a/b": "c"},
            "managedFields": [{"manager": "x"}]}
    seen = _seen(meta)
    assert seen == ("team", "t", (("a/b", "c"),))
    assert _vanished("u", seen) == {"uid": "u", "name": "t", "namespace": "team",
                                    "labels": {"a/b": "c"}}
    assert _vanished("u", _seen({"uid": "u", "name": "n"})) == {
        "uid": "u", "name": "n", "labels": {}}


def test_a_listing_page_is_delivered_without_managed_fields_and_the_collector_resumes() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    informer = Informer(Connection(None), Resource("g", "v1", "things"), None,
                        lambda kind, b: got.append((kind, b)))
    page = {"metadata": {"resourceVersion": "9", "continue": "c"}, "items": [
        {"metadata": {"uid": "u1", "name": "a", "namespace": "n",
                      "managedFields": [{"manager": "kubectl"}]}}]}
    uids: set[str] = set()
    assert gc.isenabled()
    assert informer.take_page(json.dumps(page).encode(), uids) == page["metadata"]
    assert gc.isenabled() and uids == {"u1"}
    assert got == [("ADDED", {"metadata": {"uid": "u1", "name": "a", "namespace": "n"}})]
    informer.take_page(json.dumps(page).encode(), uids)
    assert got[-1][0] == "MODIFIED"  # known from the earlier page
