"""The safe arithmetic parser, equation finding, and the step_check scorer."""
from fractions import Fraction

import numpy as np
import pytest

from w2s_ray.score import get_scorer
from w2s_ray.score.arith import ParseError, Unevaluable, evaluate, parse_tokens, tokenize
from w2s_ray.score.step_checker import check_steps, split_steps


def calc(text: str) -> Fraction:
    """What the step checker computes of one side of an equation (score/equations.py)."""
    return evaluate(parse_tokens(tokenize(text)))


@pytest.mark.parametrize("expr, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("12 / 4 / 3", 1),
    ("-2 ^ 2", -4), ("2 ^ 3 ^ 2", 512), ("2 ** 10", 1024), ("-(3 - 5)", 2),
    ("3 x 4", 12), ("3x4", 12), ("3 × 4", 12), ("12 ÷ 4", 3), ("7 − 2", 5), (r"3 \times 4", 12),
    ("$1,200 / 4", 300), ("1,234.5 + 0.5", 1235), (".5 + .5", 1), ("20% * 50", 10),
    ("0.1 + 0.2", Fraction(3, 10)),  # exact: no binary float error
])
def test_parser_precedence_and_spellings(expr, value):
    assert calc(expr) == value


@pytest.mark.parametrize("expr", [
    "", "box", "2x + 3", "(1 + 2", "1 + 2)", "3 4", "* 3", "1 +",
    "__import__('os').system('x')", "().__class__", "lambda: 1", "1 if 1 else 2",
    "-" * 500 + "1", "(" * 500 + "1" + ")" * 500, "9" * 5000,
])
def test_parser_refuses_non_arithmetic(expr):
    with pytest.raises(ParseError):
        calc(expr)


def test_division_by_zero_and_unsafe_powers():
    with pytest.raises(ZeroDivisionError):
        calc("5 / (3 - 3)")
    with pytest.raises(Unevaluable):
        calc("2 ^ 0.5")
    with pytest.raises(Unevaluable):
        calc("10 ^ 1000")


def test_split_steps_stops_at_the_answer_and_skips_blanks():
    text = "14 + 6 = 20\n\n  20 - 5 = 15  \nso the total is #### 15\nafter"
    assert split_steps(text) == ["14 + 6 = 20", "20 - 5 = 15", "so the total is"]
    assert split_steps("14 + 6 = 20\n#### 20\n3 = 4") == ["14 + 6 = 20"]


def test_a_step_on_the_answer_line_is_a_step():
    assert split_steps("a = 1\nb = 1 + 1 = 2 #### 2") == ["a = 1", "b = 1 + 1 = 2"]
    assert split_steps("1 + 1 = 2 #### 2") == ["1 + 1 = 2"]
    assert split_steps("#### 7") == []
    assert split_steps("a\n\nb = 3 #### 3", step_sep="blank_line") == ["a", "b = 3"]
    # the step checker sees the step, so its error counts
    assert check_steps("a = 1\nb = 1 + 1 = 3 #### 3")["wrong_steps"] == [1]
    assert split_steps("a\nb\n\nc", step_sep="blank_line") == ["a\nb", "c"]
    assert split_steps("") == []


def test_correct_demo_chain():
    stats = check_steps("14 + 6 = 20\n20 - 5 = 15\n3 x 5 = 15\n15 / 3 = 5\n#### 5")
    assert stats == {"n_steps": 4, "n_wrong_steps": 0, "step_error_rate": 0.0, "wrong_steps": [],
                     "n_checkable_steps": 4, "n_refused_steps": 0}


def test_wrong_steps_are_located():
    stats = check_steps("14 + 6 = 21\n21 - 5 = 16\n16 × 2 = 30\n#### 30")
    assert stats["wrong_steps"] == [0, 2]
    assert stats["n_wrong_steps"] == 2
    assert stats["step_error_rate"] == pytest.approx(2 / 3)


def test_gsm8k_gold_solution_with_calculator_annotations():
    text = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
            "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")
    assert check_steps(text)["n_checkable_steps"] == 2
    assert check_steps(text)["wrong_steps"] == []
    wrong = text.replace("<<48+24=72>>", "<<48+24=70>>")
    assert check_steps(wrong)["wrong_steps"] == [1]


def test_prose_chains_money_and_rounding():
    text = ("Each share is $1,200 / 4 = $300.\n"
            "Together 3 * 4 + 2 = 12 + 2 = 14 apples.\n"
            "Per person 10 / 3 = 3.33 dollars.\n"
            "He thinks about it.\n"
            "Day 2 = 5 + 5 = 10 apples.\n"
            "#### 14")
    stats = check_steps(text)
    assert stats["n_steps"] == 5
    assert stats["n_checkable_steps"] == 4  # the prose line has no equation
    assert stats["wrong_steps"] == []
    assert stats["step_error_rate"] == 0.0


def test_inexact_rounding_and_run_on_chains_are_wrong():
    assert check_steps("10 / 3 = 3\n#### 3")["wrong_steps"] == [0]          # not 2-decimal rounding
    assert check_steps("10 / 3 = 3.3\n#### 3")["wrong_steps"] == [0]
    assert check_steps("3 * 4 = 12 + 2 = 14\n#### 14")["wrong_steps"] == [0]  # 12 is not 14


def test_division_by_zero_step_is_wrong_not_a_crash():
    stats = check_steps("5 / 0 = 0\n2 + 2 = 4\n#### 4")
    assert stats["wrong_steps"] == [0]
    assert stats["n_checkable_steps"] == 2


def test_bullets_are_not_minus_signs():
    assert check_steps("- 14 + 6 = 20\n* 20 - 5 = 15\n#### 15")["wrong_steps"] == []


@pytest.mark.parametrize("text", [
    "__import__('os').system('x') = 3\n#### 3",
    "exec('import os') = 1 + 1\n#### 2",
    "x = 5\n2x + 3 = 7\n#### 2",
    "=" * 1000,
    "<<" * 500 + ">>" * 500,
    "1 + " * 2000 + "1 = 2001",
    "\x00\x01 ))(( = = 3 ÷ ÷ 4 = %%%",
    "(" * 300 + "1" + ")" * 300 + " = 1",
    "9" * 6000 + " + 1 = 2",
])
def test_garbage_never_raises_and_hostile_text_is_unparseable(text):
    stats = check_steps(text)
    assert stats["n_wrong_steps"] <= stats["n_checkable_steps"] <= stats["n_steps"]
    if "__import__" in text or "exec(" in text or "2x" in text:
        assert stats["n_checkable_steps"] == 0


def test_step_check_scorer_columns():
    scorer = get_scorer("step_check")()
    texts = ["14 + 6 = 20\n#### 20", "14 + 6 = 21\nok\n#### 21", "", None]
    out = scorer({"text": np.array(texts, dtype=object)})
    assert out["n_steps"].tolist() == [1, 2, 0, 0]
    assert out["n_wrong_steps"].tolist() == [0, 1, 0, 0]
    assert out["step_error_rate"].tolist() == [0.0, 0.5, 0.0, 0.0]
    assert out["n_checkable_steps"].tolist() == [1, 1, 0, 0]
    assert out["wrong_steps"].shape == (4,) and out["wrong_steps"].tolist() == [[], [0], [], []]


def test_step_check_reads_another_column_and_validates_config():
    scorer = get_scorer("step_check")(text_column="solution")
    assert scorer({"solution": np.array(["1 + 1 = 3\n#### 3"], dtype=object)})["n_wrong_steps"][0] == 1
    with pytest.raises(KeyError):
        scorer({"text": np.array(["1 + 1 = 2"], dtype=object)})
    with pytest.raises(ValueError):
        get_scorer("step_check")(step_sep="sentence")


@pytest.mark.parametrize("step", [
    "Day 4:2(50+100+120)=540",                       # implicit multiplication
    "Number of hens: 9(8)-5=67",
    "Third hour = 66(1/3) = 22 apples",
    "8 people eat 1 1/2 rolls each, 8 x 1 1/2 = 12 rolls",   # mixed numbers
    "The third present needs 2 + 1 1/2 = 3 1/2 square feet",
    "He reads 4 / 3 = 1 and 1/3 hours",
    "Arthur can buy 100 / 6= 16 and (2/3) books",
    "There are 3/ 1/4 = 12 quarter miles in 3 miles",         # a tight fraction is one number
    "The 20% profit is $80 000 x 20/100 = $16 000.",          # thousands with a space
    "So in a month, he uses 600 x 30 = 18 000 watts.",
    "She uses 60g x 4 = 240g of flour",                       # a unit glued to a number
    "The loss is 20 – 25 = –5 dollars",                       # en-dash minus
    "He ate ¾ of 12, so 12 * ¾ = 9",                          # vulgar fractions
    "A recipe needs 1½ * 2 = 3 cups",
    "$9 / $27 * 100% = 33.333%",                              # percent, rounded
    "0.25 * 100 = 25%",                                       # percent on one side
    "100/5 = 5A/5 or 20 = A.",                                # algebra is not arithmetic
    "He works M + 4 + 2 = 8 hours a day.",
    "Combining like terms, we get X*2 - $40 = $250.",
    "So (X+10)*3/2 = 45.",
    "(7 * V) + (4 * 5) = $69.",
    "Combining like terms, we get 2p + 12 = 70",
    "On Monday: 3*30 = 30 + M trees.",
    "He has to leave at 0900-0130 = 0730 hours",              # clock times
])
def test_real_gold_steps_are_not_flagged(step):
    assert check_steps(step)["n_wrong_steps"] == 0


@pytest.mark.parametrize("step, wrong", [
    ("Day 4:2(50+100+120)=541", 1), ("8 x 1 1/2 = 13", 1), ("$80 000 x 20/100 = $16 500", 1),
    ("12 * ¾ = 8", 1), ("0.25 * 100 = 26%", 1), ("3/4^2 = 0.5625", 1), ("3/4^2 = 0.1875", 0),
    ("25 / 1/3 = 75", 0), ("3 1/2 * 2 = 7", 0),
])
def test_those_readings_still_catch_wrong_arithmetic(step, wrong):
    stats = check_steps(step)
    assert stats["n_checkable_steps"] == 1 and stats["n_wrong_steps"] == wrong


def _cpu_of(fn, text: str) -> float:
    """The least of three runs' CPU seconds: noise only ever adds."""
    import time

    costs = []
    for _ in range(3):
        start = time.thread_time()
        fn(text)
        costs.append(time.thread_time() - start)
    return min(costs)


@pytest.mark.parametrize("small, large", [
    # ~4 KB lines of tokens that never parse (trying every start position is quadratic): 10x the line
    (("( 1 " * 99 + "= 2\n") * 15, ("( 1 " * 990 + "= 2\n") * 15),
    ("1+1=2\n" * 1_000, "1+1=2\n" * 10_000),  # 10x the lines
    ("( a ) + " * 800 + "= 3", "( a ) + " * 8_000 + "= 3"),  # 10x one unparseable line
])
def test_step_check_is_linear_on_unparseable_and_long_text(small, large):
    # Both under answers.MAX_TEXT_CHARS, so every line is looked at. Ten times the input may cost
    # at most twenty times the CPU: quadratic work would cost ~100x, and no clock's noise is 2x of
    # the least of three runs. The absolute times are bench/step_check_gold.py's business.
    from w2s_ray.text.answers import MAX_TEXT_CHARS

    assert len(large) <= MAX_TEXT_CHARS and len(large) >= 9 * len(small)
    check_steps(small)  # first-call imports and caches are not the small text's cost
    ratio = _cpu_of(check_steps, large) / max(_cpu_of(check_steps, small), 1e-4)
    assert ratio <= 20, f"10x the text cost {ratio:.0f}x the CPU"
