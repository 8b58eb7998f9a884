"""ASearcher's local search-and-browse client against ``searchgym serve``.

The client is ASearcher's unchanged ``AsyncSearchBrowserClient`` (``search_utils.py`` of its AReaL
trainer; the ``async-search-access`` client of ``SearchToolBox``): it finds servers through
``$RAG_SERVER_ADDR_DIR/Host*_IP*.txt`` files, posts ``{"queries", "topk", "return_scores": False}``
to ``/retrieve`` and reads ``r["contents"]`` and ``r["url"]`` of every hit, then reads a page by
posting its url to ``/access``: the agent's loop of search, then ``<access>url</access>``.
"""

from __future__ import annotations

import asyncio

import pytest
from upstream_code import upstream_file

search_utils = upstream_file("asearcher", "search_utils.py", "asearcher_search_utils")


@pytest.fixture()
def client(retrieval_server, tmp_path, monkeypatch):
    """The client as ASearcher's trainer makes it, pointed at our server by its address file."""
    address = f"{retrieval_server.host}:{retrieval_server.port}"
    (tmp_path / f"Host{retrieval_server.host}_IP{retrieval_server.port}.txt").write_text(address)
    monkeypatch.setenv("RAG_SERVER_ADDR_DIR", str(tmp_path))
    return search_utils.make_search_client("async-search-access")


def test_search_then_access_by_url(client, engine, questions):
    async def loop():
        found = await client.query_async({"queries": [questions[0], questions[1]], "topk": 5, "return_scores": False})
        pages = await client.access_async(found[0]["urls"][:2])
        return found, pages

    found, pages = asyncio.run(loop())
    assert len(found) == 2
    for question, result in zip(questions[:2], found):
        hits = engine.search([question], 5)[0]
        assert result["documents"] == [f'"{hit.title}"\n{hit.text}' for hit in hits]
        assert len(result["urls"]) == len(hits) and len(set(result["urls"])) == len(hits)
    first = engine.search([questions[0]], 2)[0]
    assert [page["page"] for page in pages] == [engine.access(hit.doc_id).contents for hit in first]
    assert all(page["type"] == "access" for page in pages)


def test_access_of_an_unknown_url_is_an_empty_page_not_an_error(client, retrieval_server):
    (page,) = asyncio.run(client.access_async([retrieval_server.url + "/doc/no-such-document"]))
    assert page["page"] == ""
