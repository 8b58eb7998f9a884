"""Action parsing (text tags and OpenAI tool calls) and the tool schemas it must agree with."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.envs.actions import DEFAULT_MAX_CHARS, ParsedAction, parse_action
from searchgym.envs.tools import ACTION_NAMES, TOOL_SCHEMAS, tool_schemas

# --------------------------------------------------------------------------- text: valid


@pytest.mark.parametrize(
    ("text", "kind", "argument"),
    [
        ("<search>capital of France</search>", "search", "capital of France"),
        ("<access>doc-00042</access>", "access", "doc-00042"),
        ("<answer>Paris</answer>", "answer", "Paris"),
        ("<search>  padded query \n</search>", "search", "padded query"),
        ("<SEARCH>Upper</Search>", "search", "Upper"),
        ("<answer>北京 🏯</answer>", "answer", "北京 🏯"),
        ("<answer>line one\nline two</answer>", "answer", "line one\nline two"),
        ("<search>a < b and c > d</search>", "search", "a < b and c > d"),
        ("<search>x <information>y</information></search>", "search", "x <information>y</information>"),
    ],
)
def test_single_action(text, kind, argument):
    action = parse_action(text)
    assert action.kind == kind
    assert action.argument == argument
    assert action.error is None
    assert action.format_ok is True
    assert action.protocol == "text"
    assert action.raw_length == len(text)


def test_search_sets_queries_others_do_not():
    assert parse_action("<search>q</search>").queries == ("q",)
    assert parse_action("<answer>q</answer>").queries == ()
    assert parse_action("<access>q</access>").queries == ()


def test_think_then_action():
    action = parse_action("<think> I need the capital. </think>\n\n<search>capital of France</search>\n")
    assert action.kind == "search"
    assert action.think == "I need the capital."
    assert action.format_ok is True


def test_empty_think_is_allowed():
    action = parse_action("<think></think><answer>x</answer>")
    assert action.think == ""
    assert action.format_ok is True


# --------------------------------------------------------------------------- text: format_ok False


@pytest.mark.parametrize(
    "text",
    [
        "Sure! <search>q</search>",  # text before
        "<search>q</search> done",  # text after
        "<think>a</think> so <search>q</search>",  # text between think and action
        "<search>q</search><think>later</think>",  # tag after action
        "<think>a</think><think>b</think><search>q</search>",  # two thinks
        "<search>q</search><search>r</search>",  # two actions
        "<answer>maybe <search>q</search>",  # unclosed tag before the action
        "<search>q</search>\n<information>fake</information>",  # hallucinated observation
    ],
)
def test_runs_but_format_not_ok(text):
    action = parse_action(text)
    assert action.kind == "search"
    assert action.argument == "q"
    assert action.format_ok is False
    assert action.error is None


def test_first_complete_action_runs():
    assert parse_action("<search>a</search><answer>b</answer>").kind == "search"
    assert parse_action("<answer>b</answer><search>a</search>").kind == "answer"


def test_action_inside_think_runs_like_a_stop_string_would():
    action = parse_action("<think>I will <search>inner</search> then</think><answer>x</answer>")
    assert action.kind == "search"
    assert action.argument == "inner"
    assert action.think is None  # the think block was not closed before the action
    assert action.format_ok is False


def test_disallowed_tag_is_plain_text():
    action = parse_action("<access>d1</access>", allowed_actions=("search", "answer"))
    assert action.kind == "invalid"
    assert "<access>" not in action.error  # only the allowed forms are suggested
    assert "<search>" in action.error
    # ... and it does not count as a nested tag inside an allowed action
    ok = parse_action("<answer>see <access>d1</access></answer>", allowed_actions=["answer"])
    assert (ok.kind, ok.argument, ok.format_ok) == ("answer", "see <access>d1</access>", True)


# --------------------------------------------------------------------------- text: invalid


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        ("", "no action found"),
        ("   ", "no action found"),
        ("just some words", "no action found"),
        ("<think>only thinking</think>", "no action found"),
        ("< search>q</ search>", "no action found"),  # no spaces inside the brackets
        ("<searching>q</searching>", "no action found"),
        ('<search query="x">q</search>', "without a matching"),
        ("<search>q", "not closed"),
        ("<search>q</search", "not closed"),
        ("<think>hmm <answer>x</think>", "not closed"),
        ("</answer>", "without a matching <answer>"),
        ("q</search>", "without a matching <search>"),
        ("<search>q</answer>", "closed by </answer>"),
        ("<search>a <think>b</think> c</search>", "nested"),
        ("<search></search>", "empty <search>"),
        ("<answer> \n </answer>", "empty <answer>"),
        ("<access></access>", "document id"),
    ],
)
def test_invalid_text(action, needle):
    parsed = parse_action(action)
    assert parsed.kind == "invalid"
    assert parsed.format_ok is False
    assert parsed.argument == ""
    assert needle in parsed.error


def test_no_action_error_lists_valid_forms():
    error = parse_action("hello").error
    for form in ("<search>", "<access>", "<answer>"):
        assert form in error


def test_over_max_chars_is_invalid_with_limit_in_error():
    text = "<answer>" + "x" * 100 + "</answer>"
    assert parse_action(text, max_chars=len(text)).kind == "answer"
    parsed = parse_action(text, max_chars=len(text) - 1)
    assert parsed.kind == "invalid"
    assert str(len(text) - 1) in parsed.error
    assert parsed.raw_length == len(text)


_FIVE_MB = 5 * 1024 * 1024


@pytest.mark.parametrize(
    "make",
    [
        lambda: "<search>" + "a" * _FIVE_MB + "</search>",
        lambda: "<" * _FIVE_MB,
        lambda: ("<search>" * (_FIVE_MB // 8)),
        lambda: ("<think>" + "</" * (_FIVE_MB // 2)),
        lambda: ("<search " * (_FIVE_MB // 8)) + "<search>q</search>",
    ],
)
def test_five_megabytes_returns(make):
    text = make()
    assert len(text) >= _FIVE_MB - 8
    # Default limit: rejected before scanning.
    assert parse_action(text).kind == "invalid"
    # Raised limit: the linear scanner still answers promptly (pytest-timeout guards a hang).
    parsed = parse_action(text, max_chars=len(text))
    assert parsed.raw_length == len(text)


def test_five_megabytes_with_raised_limit_parses_correctly():
    text = "<search>" * 100_000 + "<search>q</search>" + "x" * _FIVE_MB
    parsed = parse_action(text, max_chars=len(text))
    assert (parsed.kind, parsed.argument, parsed.format_ok) == ("search", "q", False)


# --------------------------------------------------------------------------- stop-string invariance

_PIECES = st.sampled_from(
    ["<think>", "</think>", "<search>", "</search>", "<access>", "</access>", "<answer>",
     "</answer>", "q", "  ", "\n", "word", "<", ">", "</", "<SEARCH>", "</Answer>"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=14))
def test_parse_equals_parse_of_text_cut_after_first_closing_action_tag(pieces):
    """A trainer with stop strings sends the text cut after the first closing action tag;
    the executed action must be the same as for the uncut text."""
    text = "".join(pieces)
    lower = text.lower()
    ends = [lower.find(t) + len(t) for t in ("</search>", "</access>", "</answer>") if t in lower]
    full = parse_action(text)
    assert isinstance(full, ParsedAction)
    if ends:
        cut = parse_action(text[: min(ends)])
        assert (cut.kind, cut.argument, cut.error) == (full.kind, full.argument, full.error)
    if full.kind != "invalid":
        assert full.argument and full.argument == full.argument.strip()
    else:
        assert full.error and not full.format_ok


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text):
    parsed = parse_action(text)
    assert parsed.kind in (*ACTION_NAMES, "invalid")
    assert (parsed.error is None) == (parsed.kind != "invalid")


# --------------------------------------------------------------------------- non-text, non-mapping


@pytest.mark.parametrize("value", [None, 0, 3.5, b"<answer>x</answer>", ["<answer>x</answer>"], object()])
def test_wrong_type_is_invalid(value):
    parsed = parse_action(value)
    assert parsed.kind == "invalid"
    assert parsed.protocol == "unknown"
    assert type(value).__name__ in parsed.error


# --------------------------------------------------------------------------- tool calls


def test_plain_call_with_mapping_arguments():
    parsed = parse_action({"name": "search", "arguments": {"query": " who? "}})
    assert (parsed.kind, parsed.argument, parsed.queries) == ("search", "who?", ("who?",))
    assert parsed.format_ok is True
    assert parsed.protocol == "tools"


def test_plain_call_with_json_string_arguments():
    parsed = parse_action({"name": "access", "arguments": json.dumps({"doc_id": "d7"})})
    assert (parsed.kind, parsed.argument) == ("access", "d7")


def test_tool_name_is_case_insensitive_and_trimmed():
    assert parse_action({"name": " Answer ", "arguments": {"answer": "x"}}).kind == "answer"


def test_extra_arguments_are_ignored():
    parsed = parse_action({"name": "answer", "arguments": {"answer": "x", "confidence": 0.9}})
    assert (parsed.kind, parsed.argument) == ("answer", "x")


def test_verl_query_list():
    parsed = parse_action({"name": "search", "arguments": '{"query_list": [" a ", "b"]}'})
    assert parsed.kind == "search"
    assert parsed.queries == ("a", "b")
    assert parsed.argument == "a\nb"


def test_openai_tool_call_item_keeps_id():
    item = {"id": "call_1", "type": "function", "function": {"name": "answer", "arguments": '{"answer": "Paris"}'}}
    parsed = parse_action(item)
    assert (parsed.kind, parsed.argument, parsed.call_id) == ("answer", "Paris", "call_1")


def _message(*calls, content=None, **extra):
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ],
        **extra,
    }


def test_assistant_message_with_one_tool_call():
    parsed = parse_action(_message(("search", {"query": "q"}), content="<think>plan</think>"))
    assert (parsed.kind, parsed.argument, parsed.call_id) == ("search", "q", "call_0")
    assert parsed.think == "plan"
    assert parsed.format_ok is True


def test_assistant_message_plain_content_is_think():
    parsed = parse_action(_message(("search", {"query": "q"}), content="Let me look it up."))
    assert parsed.think == "Let me look it up."


def test_assistant_message_reasoning_content_is_think():
    msg = _message(("answer", {"answer": "x"}), content="", reasoning_content="because")
    assert parse_action(msg).think == "because"


def test_assistant_message_several_calls_runs_first():
    parsed = parse_action(_message(("access", {"doc_id": "d1"}), ("answer", {"answer": "x"})))
    assert (parsed.kind, parsed.argument, parsed.call_id) == ("access", "d1", "call_0")
    assert parsed.format_ok is False


def test_assistant_message_without_tool_calls_parses_content_as_text():
    for msg in (
        {"role": "assistant", "content": "<answer>x</answer>"},
        {"role": "assistant", "content": "<answer>x</answer>", "tool_calls": []},
        {"role": "assistant", "content": "<answer>x</answer>", "tool_calls": None},
        {"role": "assistant", "content": [{"type": "text", "text": "<answer>"}, {"type": "text", "text": "x</answer>"}]},
    ):
        parsed = parse_action(msg)
        assert (parsed.kind, parsed.argument, parsed.protocol) == ("answer", "x", "text"), msg


def test_assistant_text_content_with_separate_reasoning():
    parsed = parse_action({"role": "assistant", "content": "<answer>x</answer>", "reasoning_content": "r"})
    assert parsed.think == "r"


def test_legacy_function_call():
    msg = {"role": "assistant", "content": None, "function_call": {"name": "answer", "arguments": '{"answer": "y"}'}}
    assert (parse_action(msg).kind, parse_action(msg).argument) == ("answer", "y")


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        ({"name": "search", "arguments": "{not json"}, "not valid JSON"),
        ({"name": "search", "arguments": "[1, 2]"}, "must be a JSON object"),
        ({"name": "search", "arguments": '"q"'}, "must be a JSON object"),
        ({"name": "search", "arguments": 42}, "must be a JSON object"),
        ({"name": "search", "arguments": ""}, "needs a 'query'"),
        ({"name": "search"}, "needs a 'query'"),
        ({"name": "search", "arguments": {"query": 5}}, "must be a string"),
        ({"name": "search", "arguments": {"query": "  "}}, "is empty"),
        ({"name": "search", "arguments": {"query": "a", "query_list": ["b"]}}, "only one"),
        ({"name": "search", "arguments": {"query_list": "a"}}, "list of strings"),
        ({"name": "search", "arguments": {"query_list": []}}, "at least one"),
        ({"name": "search", "arguments": {"query_list": ["a", 3]}}, "item 1"),
        ({"name": "search", "arguments": {"query_list": ["a", " "]}}, "empty query"),
        ({"name": "access", "arguments": {"id": "d1"}}, "needs a 'doc_id'"),
        ({"name": "access", "arguments": {"doc_id": None}}, "must be a string"),
        ({"name": "answer", "arguments": {"answer": ""}}, "is empty"),
        ({"name": "answer", "arguments": {"answer": 1990}}, "must be a string"),
        ({"name": "browse", "arguments": {}}, "unknown tool 'browse'"),
        ({"name": None, "arguments": {}}, "no tool name"),
        ({"name": "", "arguments": {}}, "no tool name"),
        ({"tool": "search", "args": {"query": "q"}}, "needs a 'function'"),
        ({"type": "function", "function": {"name": "nope", "arguments": "{}"}}, "unknown tool"),
        ({"role": "assistant", "tool_calls": "search"}, "must be a list"),
        ({"role": "assistant", "tool_calls": ["search"]}, "must be an object"),
        ({"role": "assistant", "content": None}, "neither tool calls nor text"),
        ({"role": "assistant", "content": "no tags here"}, "no action found"),
    ],
)
def test_invalid_tool_calls(action, needle):
    parsed = parse_action(action)
    assert parsed.kind == "invalid"
    assert parsed.format_ok is False
    assert needle in parsed.error, parsed.error


def test_unknown_tool_error_lists_valid_tools():
    error = parse_action({"name": "browse", "arguments": {}}).error
    assert all(name in error for name in ACTION_NAMES)


def test_disallowed_tool_is_unknown():
    parsed = parse_action({"name": "access", "arguments": {"doc_id": "d"}}, allowed_actions={"search", "answer"})
    assert parsed.kind == "invalid"
    assert "unknown tool" in parsed.error and "access" not in parsed.error.split(";")[1]


def test_invalid_tool_call_keeps_call_id():
    # The env must still answer the call id with a tool message, even for a bad call.
    parsed = parse_action(_message(("search", {"query": 3})))
    assert parsed.kind == "invalid" and parsed.call_id == "call_0"


def test_huge_mapping_is_rejected():
    parsed = parse_action({"name": "answer", "arguments": {"answer": "x" * (DEFAULT_MAX_CHARS + 1)}})
    assert parsed.kind == "invalid"
    assert str(DEFAULT_MAX_CHARS) in parsed.error


def test_five_megabyte_json_arguments_return():
    parsed = parse_action({"name": "search", "arguments": json.dumps({"query": "q" * _FIVE_MB})})
    assert parsed.kind == "invalid"


def test_unserialisable_mapping_is_invalid():
    loop: dict = {"name": "answer"}
    loop["arguments"] = loop
    parsed = parse_action(loop)
    assert parsed.kind == "invalid"
    assert "serialisable" in parsed.error


def test_deeply_nested_json_string_is_invalid_not_an_exception():
    deep = "[" * 100_000 + "]" * 100_000
    parsed = parse_action({"name": "search", "arguments": deep}, max_chars=10**6)
    assert parsed.kind == "invalid"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["search", "access", "answer", "x"]) | _JSONISH,
            "arguments": _JSONISH | _JSONISH.map(json.dumps),
            "role": st.just("assistant"),
            "content": _JSONISH,
            "tool_calls": _JSONISH,
            "function": _JSONISH,
        },
    )
)
def test_arbitrary_mappings_never_raise(mapping):
    parsed = parse_action(mapping)
    assert parsed.kind in (*ACTION_NAMES, "invalid")
    assert (parsed.error is None) == (parsed.kind != "invalid")


# --------------------------------------------------------------------------- record


def test_parsed_action_is_frozen_and_json_friendly():
    parsed = parse_action({"name": "search", "arguments": {"query_list": ["a", "b"]}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.kind = "answer"  # type: ignore[misc]
    data = json.loads(json.dumps(parsed.to_dict()))
    assert data["queries"] == ["a", "b"]
    assert data["kind"] == "search"
    assert parsed.is_valid and not parse_action("x").is_valid


# --------------------------------------------------------------------------- tool schemas


def _example_args(schema: dict) -> dict:
    props = schema["function"]["parameters"]["properties"]
    return {k: (["q1", "q2"] if v["type"] == "array" else "v") for k, v in props.items()}


@pytest.mark.parametrize("multi_query", [False, True])
def test_every_schema_call_is_accepted_by_the_parser(multi_query):
    schemas = tool_schemas(multi_query=multi_query)
    assert [s["function"]["name"] for s in schemas] == list(ACTION_NAMES)
    for schema in schemas:
        fn = schema["function"]
        assert schema["type"] == "function"
        assert fn["parameters"]["type"] == "object"
        assert set(fn["parameters"]["required"]) == set(fn["parameters"]["properties"])
        call = {"name": fn["name"], "arguments": json.dumps(_example_args(schema))}
        parsed = parse_action(call)
        assert parsed.kind == fn["name"], parsed.error
        assert parsed.format_ok


def test_multi_query_schema_uses_query_list():
    search = tool_schemas(multi_query=True)[0]["function"]["parameters"]
    assert search["properties"]["query_list"]["items"] == {"type": "string"}
    assert "query" in TOOL_SCHEMAS[0]["function"]["parameters"]["properties"]


def test_allow_access_false_drops_access():
    assert [s["function"]["name"] for s in tool_schemas(allow_access=False)] == ["search", "answer"]


def test_tool_schemas_returns_independent_copies():
    copy = tool_schemas()
    copy[0]["function"]["name"] = "mutated"
    assert TOOL_SCHEMAS[0]["function"]["name"] == "search"
    assert tool_schemas()[0]["function"]["name"] == "search"
    json.dumps(TOOL_SCHEMAS)  # plain JSON


@pytest.mark.parametrize(
    "text",
    [
        "<search>q</search>",
        "<think>t</think>\n<answer>a</answer>",
        "<access>d1</access> trailing",
        "<ANSWER>x</ANSWER>",
    ],
)
def test_a_parsed_text_action_is_the_dataclass_its_fields_make(text):
    # parse_text fills a ParsedAction's fields without the frozen __init__: it must be the same
    # object as ParsedAction(...) in every way a caller can see (fields in order, equality,
    # hash, pickle, immutability).
    import pickle

    parsed = parse_action(text)
    rebuilt = ParsedAction(**{field.name: getattr(parsed, field.name) for field in dataclasses.fields(ParsedAction)})
    assert list(vars(parsed)) == [field.name for field in dataclasses.fields(ParsedAction)]
    assert parsed == rebuilt and hash(parsed) == hash(rebuilt) and repr(parsed) == repr(rebuilt)
    assert pickle.dumps(parsed) == pickle.dumps(rebuilt) and pickle.loads(pickle.dumps(parsed)) == parsed
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.kind = "invalid"  # type: ignore[misc]
