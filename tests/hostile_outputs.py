"""Hostile model outputs: text a model (or whoever controls its prompt) could emit to stall, crash or
run code in a scorer. Shared by the scorer hardening tests and bench/hostile_scoring.py.

Each case is (name, text). Texts that try to run code write SENTINEL if anything ever executes them.
"""
from __future__ import annotations

import os
import tempfile

SENTINEL = os.path.join(tempfile.gettempdir(), "w2s_hostile_sentinel_executed")
_RUN = f"__import__('os').system('touch {SENTINEL}')"
MB = 1 << 20


def _deep(opener: str, closer: str, depth: int, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


CASES: list[tuple[str, str]] = [
    # towers, huge powers, factorials: cheap to write, astronomically costly to evaluate
    ("tower_10", r"The answer is \boxed{10^{10^{10}}}"),
    ("tower_9", r"\boxed{9^{9^{9^9}}}"),
    ("tower_2", r"\boxed{2^{2^{2^{2^{2^{2}}}}}}"),
    ("tower_python", "\\boxed{10**10**10}"),
    ("tower_plain_hash", "#### 9^9^9^9"),
    ("neg_tower", r"\boxed{10^{-10^{10}}}"),
    ("e_tower", r"\boxed{e^{e^{e^{e^{e}}}}}"),
    ("symbol_huge_power", r"\boxed{x^{10^{9}}}"),
    ("binomial_power", r"\boxed{(x+1)^{100000}}"),
    ("factorial", r"\boxed{1000000!}"),
    ("factorial_of_power", r"\boxed{(10^{100})!}"),
    ("double_factorial", r"\boxed{100000!!}"),
    ("binom", r"\boxed{\binom{10^{9}}{10^{8}}}"),
    ("prod", r"\boxed{\prod_{i=1}^{10^{9}} i}"),
    ("sum", r"\boxed{\sum_{k=1}^{10^{12}} k^{2}}"),
    ("integral", r"\boxed{\int_0^{10^{10}} x^{x}\,dx}"),
    ("limit", r"\boxed{\lim_{x\to\infty} x^{x^{x}}}"),
    ("gamma", r"\boxed{\Gamma(10^{9})}"),
    ("big_literal_power", r"\boxed{123456789^{987654321}}"),
    # nesting and length
    ("deep_braces", "\\boxed{" + _deep("{", "}", 10_000) + "}"),
    ("deep_parens", "\\boxed{" + _deep("(", ")", 10_000) + "}"),
    ("deep_sqrt", "\\boxed{" + _deep("\\sqrt{", "}", 2_000) + "}"),
    ("deep_frac", "\\boxed{" + "\\frac{1}{" * 2000 + "2" + "}" * 2000 + "}"),
    ("brackets_200k", "[" * 200_000),
    ("digits_5000", "#### " + "7" * 5000),
    ("boxed_100k_digits", "\\boxed{" + "9" * 100_000 + "}"),
    ("line_1mb_plus", "1+" * (MB // 2) + "1 = 2"),
    ("line_1mb_times", "2*" * (MB // 2) + "2 = 4"),
    ("lines_1mb_equations", "1+1=2\n" * (MB // 6) + "#### 2"),
    ("junk_128kb", "a ( b ) + c = " * (128 * 1024 // 14)),
    ("boxes_100k", "\\boxed{1}" * 100_000),
    ("hashes_100k", "####" * 100_000),
    ("answer_is_100k", "The answer is " * 100_000 + "3"),
    ("step_tower", "2^2^2^2^2^2 = 4\n#### 4"),
    ("step_factorial", "99999! = 1\n#### 1"),
    ("step_power_paren", "10^(10^10) = 1\n#### 1"),
    ("step_deep_parens", _deep("(", ")", 10_000) + " = 1\n#### 1"),
    # code where a careless checker might eval it
    ("code_annotation", f"She has <<{_RUN}=0>>0 apples.\n#### 0"),
    ("code_eval_annotation", "<<eval('1+1')=2>>\n#### 2"),
    ("code_hash", f"#### {_RUN}"),
    ("code_boxed", "\\boxed{" + _RUN + "}"),
    ("code_text_boxed", "\\boxed{\\text{" + _RUN + "}}"),
    ("code_lambda", "\\boxed{(lambda: " + _RUN + ")()}"),
    ("code_dunder", "\\boxed{().__class__.__bases__[0].__subclasses__()}"),
    # encodings and odd characters
    ("bad_utf8", b"#### \xff\xfe 12 \xc3\x28".decode("utf-8", "surrogateescape")),
    ("lone_surrogate", "\\boxed{\ud800}\n#### \udfff"),
    ("nul_bytes", "#### 1\x00\x00\\boxed{\x00}"),
    ("rtl_override", "#### \u202e21\u202c"),
    ("arabic_digits", "#### ١٢٣"),
    ("fullwidth_digits", "\\boxed{１２}"),
    ("nan", "#### nan"),
    ("inf", "#### inf"),
    ("boxed_nan", r"\boxed{NaN}"),
    ("infinity_minus", r"\boxed{\infty - \infty}"),
    ("float_overflow", r"\boxed{1e999999}"),
    ("huge_float_product", r"\boxed{10^{308} \cdot 10^{308}}"),
    ("div_zero", r"\boxed{\frac{1}{0}}"),
    ("unbalanced", r"\boxed{\left(\right."),
]
