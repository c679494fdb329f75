"""Sorted, disjoint half-open interval lists.

A "set" is a list of ``(a, b)`` with ``a < b``, sorted, pairwise disjoint and
non-adjacent (merged).  All operations are linear two-pointer sweeps.  The engine uses int
ticks; the operations only compare and order their values, so ``merge``, ``intersect`` and
``subtract`` also work on aware datetimes (exported as ``merge_spans``, ``intersect_spans``
and ``subtract_spans``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

Span = tuple[int, int]


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union of arbitrary spans; empty spans are dropped, touching ones joined."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[0] < s[1]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def intersect(x: list[Span], y: list[Span]) -> list[Span]:
    out: list[Span] = []
    i = j = 0
    while i < len(x) and j < len(y):
        a = max(x[i][0], y[j][0])
        b = min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(x: list[Span], y: list[Span]) -> list[Span]:
    """``x`` minus ``y``; both merged."""
    out: list[Span] = []
    j = 0
    for a, b in x:
        while j < len(y) and y[j][1] <= a:
            j += 1
        k = j
        while k < len(y) and y[k][0] < b:
            if y[k][0] > a:
                out.append((a, y[k][0]))
            a = max(a, y[k][1])
            k += 1
        if a < b:
            out.append((a, b))
    return out


def contains(x: list[Span], t: int) -> bool:
    i = bisect_right(x, (t, float("inf"))) - 1
    return i >= 0 and x[i][0] <= t < x[i][1]


def tagged_union(members: list[tuple[int, list[Span]]]) -> list[tuple[int, int, tuple[int, ...]]]:
    """Union of several members' sets as ``(a, b, ids)`` pieces, where ``ids``
    (ascending) are the members whose set covers the whole piece."""
    events: list[tuple[int, int, int]] = []
    for member, spans in members:
        for a, b in spans:
            events.append((a, 1, member))
            events.append((b, -1, member))
    events.sort(key=lambda e: e[0])
    active: dict[int, int] = {}
    out: list[tuple[int, int, tuple[int, ...]]] = []
    i, n = 0, len(events)
    while i < n:
        pos = events[i][0]
        while i < n and events[i][0] == pos:
            _, delta, member = events[i]
            count = active.get(member, 0) + delta
            if count:
                active[member] = count
            else:
                del active[member]
            i += 1
        if active and i < n:
            ids = tuple(sorted(active))
            if out and out[-1][1] == pos and out[-1][2] == ids:
                out[-1] = (out[-1][0], events[i][0], ids)
            else:
                out.append((pos, events[i][0], ids))
    return out


def intersect_tagged(
    x: list[Span], y: list[tuple[int, int, tuple[int, ...]]]
) -> list[tuple[int, int, tuple[int, ...]]]:
    out: list[tuple[int, int, tuple[int, ...]]] = []
    i = j = 0
    while i < len(x) and j < len(y):
        a = max(x[i][0], y[j][0])
        b = min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b, y[j][2]))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out
