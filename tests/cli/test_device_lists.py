"""Reading device-ID lists: comments, blanks, duplicates, case, bad lines, limits."""

import io

import pytest

from sevenfold.cli.device_lists import batches, read_device_ids
from sevenfold.cli.errors import InvalidInputError
from tests.support.devices import new_device_ids


def test_comments_blank_lines_duplicates_and_case_are_normalised() -> None:
    first, second = new_device_ids(2)
    text = f"# header\n\n{first.upper()}  # gateway 1\n{second}\n{first}\n"
    assert read_device_ids([], io.StringIO(text), source="ids.txt") == [first, second]


def test_every_bad_line_is_named_up_to_five() -> None:
    text = "\n".join(["zz"] * 7)
    with pytest.raises(InvalidInputError) as caught:
        read_device_ids([], io.StringIO(text), source="ids.txt")
    message = caught.value.message
    assert "ids.txt line 1:" in message
    assert "ids.txt line 5:" in message
    assert "(and 2 more)" in message


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="no device IDs"):
        read_device_ids([], io.StringIO("# nothing\n"), source="stdin")


def test_batches_keep_order_and_size() -> None:
    assert batches(list("abcdefg"), 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
