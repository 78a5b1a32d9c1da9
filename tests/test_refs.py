"""Example-based unit tests of artifactstore.refs: names, aliases, refs and archive member paths.

The hypothesis properties (round trips, "any text is safe or rejected typed") live in
test_properties.py; these pin each documented rule and its message.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from artifactstore.errors import InvalidInputError, InvalidNameError
from artifactstore.ids import new_id
from artifactstore.refs import (
    MAX_NAME_LENGTH,
    Ref,
    is_artifact_id,
    parse_ref,
    safe_member_path,
    validate_alias,
    validate_name,
)

# --- validate_name: accepted -------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "report.json",
    "suite/map/report.json",
    "a/b/c/d/e/f",
    "with space.txt",
    "x~",  # a tilde is only refused at the start
    "a.b..c",  # dots inside a segment are not traversal
    "...",  # nor is a segment of three dots
    ".hidden",
    "v1",
    "a%2Fb",  # decodes to a/b: two safe segments
    "a%20b",
    "100%",
    "a%zz",  # not valid percent-encoding: left as it is
    "日本語/データ.json",
    "a\u00a0b",  # no-break space is a space separator, not a control character
    "a" * MAX_NAME_LENGTH,
])
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) == name


def test_unicode_names_are_not_normalised() -> None:
    nfc = unicodedata.normalize("NFC", "café.json")
    nfd = unicodedata.normalize("NFD", "café.json")
    assert nfc != nfd
    # Both forms are valid and come back exactly as given (no silent rewriting of the name).
    assert validate_name(nfc) == nfc
    assert validate_name(nfd) == nfd
    assert parse_ref(nfd) == Ref(name=nfd)


# --- validate_name: refused --------------------------------------------------------------------


def _reason(name: Any) -> str:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    return info.value.reason


@pytest.mark.parametrize(("name", "reason"), [
    ("", "empty name"),
    ("a//b", "empty path segment"),
    ("a/", "empty path segment"),
    ("a/b/", "empty path segment"),
    ("..", "'..' segment (path traversal)"),
    ("../x", "'..' segment (path traversal)"),
    ("a/../../b", "'..' segment (path traversal)"),
    ("a/..", "'..' segment (path traversal)"),
    (".", "'.' segment (path traversal)"),
    ("./a", "'.' segment (path traversal)"),
    ("a/./b", "'.' segment (path traversal)"),
    ("/etc/passwd", "absolute path"),
    ("/a", "absolute path"),
    ("~/x", "home-relative path"),
    ("~root", "home-relative path"),
    ("a\\b", "backslash is not allowed (use '/')"),
    ("..\\x", "backslash is not allowed (use '/')"),
    ("x@v1", "'@' is reserved for refs"),
    ("@", "'@' is reserved for refs"),
    ("x:y", "':' is reserved for refs"),
    ("C:/windows", "':' is reserved for refs"),  # a drive letter is caught by the reserved ':' first
])
def test_invalid_names_give_their_reason(name: str, reason: str) -> None:
    assert _reason(name) == reason


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x85", "\u200b", "\u200e",
                                  "\u202e", "\ufeff", "\u2028", "\u2029", "\u00ad"])
def test_control_and_format_characters_are_refused(char: str) -> None:
    assert _reason(f"a{char}b") == "control or NUL character"
    assert _reason(f"{char}a") == "control or NUL character"
    assert _reason(f"a{char}") == "control or NUL character"


@pytest.mark.parametrize("char", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_lone_surrogates_are_refused(char: str) -> None:
    assert _reason(f"a{char}b") == "lone surrogate (not valid Unicode)"


def test_length_limit() -> None:
    assert validate_name("a" * MAX_NAME_LENGTH)
    too_long = "a" * (MAX_NAME_LENGTH + 1)
    with pytest.raises(InvalidNameError) as info:
        validate_name(too_long)
    assert info.value.reason == f"longer than {MAX_NAME_LENGTH} characters"
    # The error names a shortened form, not the whole 1 KiB string.
    assert info.value.name == "a" * 64 + "..."
    assert len(str(info.value)) < 200


def test_length_limit_counts_characters_not_bytes() -> None:
    name = "é" * MAX_NAME_LENGTH  # 2,048 UTF-8 bytes
    assert validate_name(name) == name


@pytest.mark.parametrize("value", [None, 3, b"report.json", ["a"], Ref(name="a")])
def test_non_strings_are_refused(value: Any) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(value)
    assert info.value.reason == "a name must be a string"
    assert info.value.name == repr(value)


@pytest.mark.parametrize(("name", "reason"), [
    ("%2e%2e/x", "percent-encoded '..' segment (path traversal)"),
    ("%2E%2E/x", "percent-encoded '..' segment (path traversal)"),
    ("a/%2e%2e", "percent-encoded '..' segment (path traversal)"),
    ("%2e", "percent-encoded '.' segment (path traversal)"),
    ("a/%2e/b", "percent-encoded '.' segment (path traversal)"),
    ("%252e%252e/x", "percent-encoded '..' segment (path traversal)"),  # encoded twice
    ("%25252e%25252e/x", "percent-encoded '..' segment (path traversal)"),  # three times
    ("a%2F%2Fb", "percent-encoded empty path segment"),
    ("a%2F", "percent-encoded empty path segment"),
    ("%2Fetc/passwd", "percent-encoded absolute path"),
    ("%252Fetc", "percent-encoded absolute path"),
    ("a%00b", "percent-encoded control character or backslash"),
    ("a%0Ab", "percent-encoded control character or backslash"),
    ("a%1Fb", "percent-encoded control character or backslash"),
    ("a%5Cb", "percent-encoded control character or backslash"),
    ("a%255Cb", "percent-encoded control character or backslash"),
])
def test_percent_encoded_hostile_forms_are_refused(name: str, reason: str) -> None:
    assert _reason(name) == reason


def test_invalid_name_error_type_and_message() -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name("../x")
    err = info.value
    # Catchable as the library's input error and as a plain ValueError.
    assert isinstance(err, InvalidInputError)
    assert isinstance(err, ValueError)
    assert err.name == "../x"
    assert str(err) == "invalid name '../x': '..' segment (path traversal)"


# --- validate_alias ----------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["prod", "a", "0", "A.b_c-d", "release-2026.01", "v", "vx", "v0", "v01", "V3",
                                   "x" * 128, "version", "v1a"])
def test_valid_aliases(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", ".prod", "-prod", "_prod", "pr od", "pr/od", "pr:od", "pr@od", "x" * 129,
                                   "v1", "v3", "v1234567890", "é", "a\x00", "\nprod"])
def test_invalid_aliases(alias: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_alias(alias)
    assert info.value.name == alias
    assert "an alias is 1-128 of [A-Za-z0-9._-]" in info.value.reason
    assert "not of the form v<N>" in info.value.reason


@pytest.mark.parametrize("value", [None, 1, b"prod"])
def test_non_string_alias_is_refused(value: Any) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_alias(value)
    assert info.value.name == str(value)


# --- is_artifact_id ----------------------------------------------------------------------------


def test_new_ids_are_artifact_ids() -> None:
    assert is_artifact_id(new_id())


@pytest.mark.parametrize("text", [
    "",
    "report.json",
    "01234567-89ab-4def-8123-456789abcdef",  # version 4, not 7
    "01234567-89ab-7def-c123-456789abcdef",  # variant not 10xx
    "01234567-89AB-7DEF-8123-456789ABCDEF",  # upper case
    "0123456789ab7def8123456789abcdef",  # no dashes
    "{01234567-89ab-7def-8123-456789abcdef}",
    "01234567-89ab-7def-8123-456789abcde",  # one short
    "01234567-89ab-7def-8123-456789abcdeff",  # one long
    " 01234567-89ab-7def-8123-456789abcdef",
])
def test_not_artifact_ids(text: str) -> None:
    assert not is_artifact_id(text)


def test_id_shape() -> None:
    assert is_artifact_id("01234567-89ab-7def-8123-456789abcdef")
    assert is_artifact_id("01234567-89ab-7def-b123-456789abcdef")


# --- parse_ref ---------------------------------------------------------------------------------


def test_parse_id() -> None:
    i = new_id()
    ref = parse_ref(i)
    assert ref == Ref(artifact_id=i)
    assert ref.name is None and ref.version is None and ref.alias is None


@pytest.mark.parametrize(("text", "expected"), [
    ("report.json", Ref(name="report.json")),
    ("suite/map/report.json", Ref(name="suite/map/report.json")),
    ("report.json@v3", Ref(name="report.json", version=3)),
    ("report.json@3", Ref(name="report.json", version=3)),
    ("a/b@v1", Ref(name="a/b", version=1)),
    ("a/b@v9999999999", Ref(name="a/b", version=9999999999)),
    ("report.json:prod", Ref(name="report.json", alias="prod")),
    ("a/b:release-1.2", Ref(name="a/b", alias="release-1.2")),
    ("a/b:v0", Ref(name="a/b", alias="v0")),
    ("v1", Ref(name="v1")),  # a bare name that looks like a version is still a name
])
def test_parse_named_refs(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


def test_id_with_a_version_is_a_name() -> None:
    # '<id>@v1' is not an id; its name part is an id-shaped string, which is a valid name.
    i = new_id()
    assert parse_ref(f"{i}@v1") == Ref(name=i, version=1)


@pytest.mark.parametrize("text", ["a@", "a@v", "a@v0", "a@0", "a@01", "a@v-1", "a@x", "a@v1.0", "a@ v1", "a@v1 ",
                                  "a@v12345678901", "a@V1"])
def test_bad_versions(text: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_ref(text)
    assert info.value.reason == "version after '@' must look like v3"
    assert info.value.name == text


def test_the_last_at_sign_separates_the_version() -> None:
    # rpartition: 'a@b@v1' has name 'a@b', which '@' makes invalid.
    with pytest.raises(InvalidNameError) as info:
        parse_ref("a@b@v1")
    assert info.value.name == "a@b"
    assert info.value.reason == "'@' is reserved for refs"


def test_version_and_alias_together_are_refused() -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_ref("a:prod@v1")
    assert info.value.reason == "':' is reserved for refs"
    with pytest.raises(InvalidNameError) as info:
        parse_ref("a@v1:prod")
    assert info.value.reason == "version after '@' must look like v3"


@pytest.mark.parametrize("text", ["a:", "a:v1", "a:.x", "a:-x", "a:x y"])
def test_bad_aliases_in_refs(text: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_ref(text)
    assert "an alias is" in info.value.reason


@pytest.mark.parametrize(("text", "reason"), [
    ("@v1", "empty name"),
    (":prod", "empty name"),
    ("../x@v1", "'..' segment (path traversal)"),
    ("/abs:prod", "absolute path"),
    ("a//b", "empty path segment"),
    ("a:b:prod", "':' is reserved for refs"),
])
def test_bad_names_in_refs(text: str, reason: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_ref(text)
    assert info.value.reason == reason


@pytest.mark.parametrize("value", ["", None, 7])
def test_empty_or_non_string_ref(value: Any) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_ref(value)
    assert info.value.reason == "empty ref"
    assert info.value.name == str(value)


def test_ref_is_frozen_and_compares_by_value() -> None:
    ref = parse_ref("a@v2")
    assert ref == Ref(name="a", version=2)
    assert hash(ref) == hash(Ref(name="a", version=2))
    with pytest.raises(AttributeError):
        ref.version = 3  # type: ignore[misc]


# --- safe_member_path --------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["report.json", "artifacts/0001/data.bin", "a%2Fb"])
def test_safe_member_paths(member: str) -> None:
    assert safe_member_path(member) == member


@pytest.mark.parametrize(("member", "reason"), [
    ("../evil", "'..' segment (path traversal)"),
    ("a/../../evil", "'..' segment (path traversal)"),
    ("/etc/passwd", "absolute path"),
    ("~/.ssh/authorized_keys", "home-relative path"),
    ("a\\..\\evil", "backslash is not allowed (use '/')"),
    ("a/", "empty path segment"),
    ("%2e%2e/evil", "percent-encoded '..' segment (path traversal)"),
    ("a\x00b", "control or NUL character"),
    ("", "empty name"),
])
def test_unsafe_member_paths(member: str, reason: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        safe_member_path(member)
    assert info.value.reason == reason


# --- fixed after these tests found them


@pytest.mark.parametrize("text", ["prod\n", "a:prod\n", "a@3\n", "a@v3\n"])
def test_a_trailing_newline_is_not_part_of_a_valid_ref(text: str) -> None:
    if ":" in text or "@" in text:
        with pytest.raises(InvalidNameError):
            parse_ref(text)
    else:
        with pytest.raises(InvalidNameError):
            validate_alias(text)


def test_an_id_with_a_trailing_newline_is_not_an_id() -> None:
    assert not is_artifact_id(new_id() + "\n")


@pytest.mark.parametrize("name", ["a%7Fb", "a%C2%85b", "a%E2%80%AEb", "a%E2%80%8Bb", "a%E2%80%A8b", "a%257Fb"])
def test_percent_encoded_controls_and_format_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="percent-encoded control character"):
        validate_name(name)
