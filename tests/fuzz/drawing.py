"""Drawing a fixed, reproducible batch of cases with hypothesis, without any I/O in the loop
(so that hypothesis never replays API calls): each example is one case."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.cases import Case


def draw_cases(strategy: st.SearchStrategy[Case], count: int, first_index: int) -> list[Case]:
    """``count`` cases, named f<first_index>, f<first_index + 1>..."""
    drawn: list[Case] = []

    @settings(max_examples=count, derandomize=True, database=None,
              phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        drawn.append(data.draw(strategy))

    draw()
    return [case.named(first_index + i) for i, case in enumerate(drawn[:count])]


def draw_batches(batches: list[tuple[st.SearchStrategy[Case], int]], first_index: int
                 ) -> list[Case]:
    """Every batch's cases, named from f<first_index> on."""
    cases: list[Case] = []
    for strategy, count in batches:
        cases += draw_cases(strategy, count, first_index + len(cases))
    return cases
