"""Answer extraction, normalisation and the answer_check scorer."""
import numpy as np
import pytest

from w2s_ray.score import extract_answer, get_scorer, normalize_answer, parse_number
from w2s_ray.score.answer_checker import answers_match


@pytest.mark.parametrize("text, expected", [
    ("14 + 6 = 20\n20 - 5 = 15\n#### 15", "15"),
    ("#### 1,000", "1000"),
    ("####  $20.00", "20"),
    ("#### -3.50\nextra 99", "-3.5"),
    ("#### 15\n#### 16", "15"),                       # the first "####" wins
    ("So she has 7 left.\nThe answer is 7.", "7"),
    ("The final answer is: $1,234.", "1234"),
    ("#### 12 apples", "12"),
    ("#### 3/4", "3/4"),
    ("The answer is **15**.", "15"),
])
def test_gsm8k_extraction(text, expected):
    assert extract_answer(text, "gsm8k") == expected


@pytest.mark.parametrize("text", [
    "", None, "14 + 6 = 20\nso 20",          # no "####": no fallback to the last number
    "####\n15",                               # the number must be on the "####" line
    "#### fifteen",
    "The answer is unclear",
    "#### about 12",                          # the number must open the answer
    r"The answer is $\frac12$",               # no stray digit out of LaTeX
])
def test_gsm8k_extraction_gives_empty_without_a_stated_number(text):
    assert extract_answer(text, "gsm8k") == ""


@pytest.mark.parametrize("text, expected", [
    (r"so $x = \boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
    (r"\boxed{1} then \boxed{2}", "2"),                           # the last box
    (r"\boxed{\left\{1, 2\right\}}", r"\left\{1,2\right\}"),
    (r"\boxed{\text{(B)}}", r"\text{(B)}"),
    (r"\boxed{\{3\}}", r"\{3\}"),                                  # escaped braces are content
    (r"\boxed{20.0}", "20"),
    (r"\boxed{\frac{1}{2}", ""),                                   # unbalanced: no answer
    ("no box here, 42", ""),
])
def test_math_extraction(text, expected):
    assert extract_answer(text, "math") == expected


def test_auto_style_prefers_hashes_then_boxes_then_answer_is():
    assert extract_answer("#### 5 \\boxed{6}", "auto") == "5"
    assert extract_answer("so \\boxed{6}. The answer is 7", "auto") == "6"
    assert extract_answer("The answer is 7", "auto") == "7"


def test_extraction_can_leave_the_raw_text():
    assert extract_answer("#### $1,000.50", normalize=False) == "$1,000.50"


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError):
        extract_answer("#### 1", "latex")


@pytest.mark.parametrize("raw, expected", [
    ("20.0", "20"), ("1,000", "1000"), ("$ 1,000,000.00", "1000000"), ("20.50", "20.5"),
    ("15.", "15"), ("-0", "0"), (".5", "0.5"), ("+3", "3"), ("007", "7"), (r"\$20", "20"),
    ("(1, 2)", "(1,2)"), (r"\pi r", r"\pi r"), (r"\frac{1}{2}", r"\frac{1}{2}"), (None, ""),
])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected
    assert normalize_answer(expected) == expected  # idempotent


def test_parse_number_rejects_words_and_nan():
    assert parse_number("1,000") == 1000.0
    assert parse_number("3/4") == 0.75
    assert parse_number("nan") is None
    assert parse_number("inf") is None
    assert parse_number(r"\frac{1}{2}") is None
    assert parse_number("1/0") is None


def _check(rows, **config):
    scorer = get_scorer("answer_check")(**config)
    batch = {k: np.array([r.get(k) for r in rows], dtype=object) for k in rows[0]}
    out = scorer(batch)
    assert set(out) == {"correct", "has_gold", "answer_refused", "answer_timed_out"}
    return out["correct"].tolist(), out["has_gold"].tolist()


def test_answer_check_gsm8k_numbers_and_missing_gold():
    rows = [
        {"answer": "20", "gold": "20.00"},
        {"answer": "1000", "gold": "1,000"},
        {"answer": "21", "gold": "20"},
        {"answer": "", "gold": "20"},          # no answer: never correct
        {"answer": "20", "gold": None},        # no gold: not correct, and flagged
        {"answer": "20", "gold": ""},
        {"answer": "0.1", "gold": "0.1000001"},  # within 1e-6
    ]
    correct, has_gold = _check(rows, style="gsm8k")
    assert correct == [True, True, False, False, False, False, True]
    assert has_gold == [True, True, True, True, False, False, True]


def test_answer_check_extracts_from_text_when_there_is_no_answer_column():
    rows = [{"text": "2 + 3 = 5\n#### 5", "gold": "5"}, {"text": "2 + 3 = 5\nso 5", "gold": "5"}]
    correct, _ = _check(rows, style="gsm8k")
    assert correct == [True, False]


def test_answer_check_gsm8k_compares_non_numbers_as_strings():
    assert answers_match("abc", "abc", "gsm8k")
    assert not answers_match(r"\frac{1}{2}", "0.5", "gsm8k")


@pytest.mark.parametrize("gold, answer, equal", [
    (r"\frac{1}{2}", "0.5", True),
    (r"\frac12", r"\dfrac{1}{2}", True),
    (r"2\sqrt{3}", r"\sqrt{12}", True),
    ("x^2+1", "1+x^2", True),
    (r"\frac{1}{2}", "0.6", False),
    (r"\pi", "3.14", False),
])
def test_answer_check_math_uses_math_verify(gold, answer, equal):
    correct, _ = _check([{"answer": answer, "gold": gold}], style="math")
    assert correct == [equal]
    correct, _ = _check([{"answer": answer, "gold": gold}], style="auto")
    assert correct == [equal]


def test_answer_check_math_survives_garbage():
    correct, _ = _check([{"answer": r"\frac{{{", "gold": "1"}, {"answer": "}}}", "gold": r"\sqrt{"}],
                        style="math")
    assert correct == [False, False]


def test_answer_check_rejects_unknown_style():
    with pytest.raises(ValueError):
        get_scorer("answer_check")(style="words")


@pytest.mark.parametrize("a, b, equal", [
    ("(0,100)", "(0, 100)", True),       # a pair, however it is spaced
    ("(1,234)", "1234", False),          # inside a tuple a comma separates: not a thousands comma
    ("[1,000, 2]", "[1000, 2]", False),
    ("1,234", "1234", True),             # a whole grouped number still loses its commas
    ("-1,234.5", "-1234.5", True),
])
def test_thousands_commas_only_leave_a_whole_number(a, b, equal):
    assert (normalize_answer(a) == normalize_answer(b)) is equal


@pytest.mark.parametrize("text", ["Step one.\nA: 12", "So 5 + 7 = 12.\nThe answer is 12.", "Answer: 12",
                                  "**A:** 12", "Final answer: 12"])
@pytest.mark.parametrize("style", ["gsm8k", "auto", "math"])
def test_builtin_final_answer_markers(text, style):
    assert extract_answer(text, style) == "12"


def test_final_answer_markers_are_configurable_literals():
    text = "Reasoning...\nRESULT => 12"
    assert extract_answer(text, "gsm8k") == ""
    assert extract_answer(text, "gsm8k", markers=("result =>",)) == "12"
    assert extract_answer("x (.*)+ 3", "gsm8k", markers=("(.*)+",)) == "3"  # a literal, not a regex
    assert extract_answer("so A: 12", "gsm8k") == ""  # "^a:" must open a line
    scorer = get_scorer("answer_check")(markers=["result =>"])
    out = scorer({"text": np.array([text], dtype=object), "gold": np.array(["12"], dtype=object)})
    assert out["correct"].tolist() == [True]
    for bad in ([], [""], ["x" * 41], [3]):
        with pytest.raises(ValueError, match="marker"):
            get_scorer("answer_check")(markers=bad)
