"""Bounded arithmetic on what a formula builds: exact constants, SymPy expressions, and their expanded size.

A :class:`Value` is a sub-expression with an estimate of how many terms it expands to;
:func:`combine` and :func:`power` check every bound (constants, exponents, terms) *before*
building anything large, so that ``9**9**9`` or a 300-term product is refused in microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from derive.notation.bounds import MAX_CONSTANT, MAX_DECIMALS, MAX_EXPONENT, MAX_LITERAL, MAX_TERMS, ClaimError, short


@dataclass(frozen=True)
class Value:
    """A built sub-expression: an exact constant (Fraction) or a SymPy expression, and its expanded size."""

    value: Fraction | sp.Expr
    terms: int = 1

    @property
    def constant(self) -> bool:
        return isinstance(self.value, Fraction)

    @property
    def expr(self) -> sp.Expr:
        v = self.value
        return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v


ONE = Value(Fraction(1))


def number(text: str) -> Value:
    """A literal: at most MAX_LITERAL in magnitude and MAX_DECIMALS decimals, kept exact."""
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        shown = int(value) if math.isfinite(value) and value == int(value) else value
        raise ClaimError(f"the number {short(shown)} is larger than the limit {MAX_LITERAL}")
    exact = Fraction(text) if "e" not in text.lower() else Fraction(repr(value))
    if exact.denominator > 10**MAX_DECIMALS:
        raise ClaimError(f"the number {short(text)} has more than {MAX_DECIMALS} decimals")
    return Value(exact)


def combine(op: str, left: Value, right: Value) -> Value:
    """left op right (op one of + - * /): exact for constants, SymPy otherwise; sizes checked first."""
    if op == "/" and right.constant and right.value == 0:
        raise ClaimError("division by zero")
    if left.constant and right.constant:
        fold = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q, "/": lambda p, q: p / q}
        return Value(checked(fold[op](left.value, right.value)))
    if op in ("+", "-"):
        terms = count(left.terms + right.terms)
        return Value(left.expr + right.expr if op == "+" else left.expr - right.expr, terms)
    terms = count(left.terms * right.terms)
    return Value(left.expr * right.expr if op == "*" else left.expr / right.expr, terms)


def negative(value: Value) -> Value:
    return Value(-value.value, value.terms)


def power(base: Value, exponent: Value) -> Value:
    """base ** exponent for a constant exponent |n| <= MAX_EXPONENT, denominator <= MAX_EXPONENT."""
    if not exponent.constant:
        raise ClaimError("exponents must be constant numbers (write exp(...) for e to a power)")
    n = exponent.value
    if abs(n) > MAX_EXPONENT or n.denominator > MAX_EXPONENT:
        raise ClaimError(f"the exponent {short(n)} is outside the limit |n| <= {MAX_EXPONENT}")
    if base.constant and n.denominator == 1:
        return Value(checked(fraction_power(base.value, int(n))))
    if base.constant and base.value < 0:
        raise ClaimError("a fractional power of a negative number is not real")
    terms = math.comb(base.terms + math.ceil(abs(n)) - 1, math.ceil(abs(n))) if n.denominator == 1 else base.terms
    return Value(sp.Pow(base.expr, exponent.expr), count(terms))


def fraction_power(base: Fraction, n: int) -> Fraction:
    if base == 0 and n < 0:
        raise ClaimError("division by zero")
    bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length()) * abs(n)
    if bits > MAX_CONSTANT.bit_length():
        raise ClaimError(f"a constant is larger than the limit {MAX_CONSTANT:.0e}")
    return base**n


def checked(value: Fraction) -> Fraction:
    if abs(value.numerator) > MAX_CONSTANT or value.denominator > MAX_CONSTANT:
        raise ClaimError(f"a constant sub-expression is larger than the limit {MAX_CONSTANT:.0e}")
    return value


def count(n: int) -> int:
    if n > MAX_TERMS:
        raise ClaimError(f"the claim would expand to more than {MAX_TERMS} terms")
    return n
