"""The statistics of paired timings, as pure functions."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from bot.perf.stats import (
    LOOKS,
    bootstrap_mean_interval,
    compare_pairs,
    decide_stop,
    is_tight,
    log_ratios,
    out_of_time,
    signed_rank_p,
    student_t_quantile,
)


def _noisy_pairs(factor: float, n: int, seed: int,
                 noise: float = 0.05) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        drift = rng.uniform(0.8, 1.2)  # both runs of a pair share the machine's mood
        pairs.append((drift * rng.lognormvariate(0, noise),
                      factor * drift * rng.lognormvariate(0, noise)))
    return pairs


def _measure_sequentially(factor: float, seed: int, noise: float, threshold: float | None,
                          max_pairs: int = 30) -> tuple[list[tuple[float, float]], str | None]:
    """Add noisy pairs one by one until decide_stop stops them; return them and why."""
    rng = random.Random(seed)
    pairs: list[tuple[float, float]] = []
    while len(pairs) < max_pairs:
        drift = rng.uniform(0.8, 1.2)
        pairs.append((drift * rng.lognormvariate(0, noise),
                      factor * drift * rng.lognormvariate(0, noise)))
        why = decide_stop(pairs, threshold=threshold)
        if why is not None:
            return pairs, why
    return pairs, None


class TestSignedRank:
    def test_five_pairs_can_never_be_significant(self) -> None:
        """Five differences all of one sign give the smallest exact p for five: 2/32."""
        assert signed_rank_p([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)

    def test_six_pairs_of_one_sign_are_significant(self) -> None:
        """Six differences of one sign give p = 2/64: under 5%, not under 1%."""
        assert signed_rank_p([-0.1, -0.2, -0.3, -0.4, -0.5, -0.6]) == pytest.approx(2 / 64)

    @pytest.mark.parametrize("differences", [[0.1, -0.2, 0.35, 0.4, 0.5, -0.06, 0.7],
                                             [-1.0, 2.0, -3.0, 4.0, 5.0, 6.0, -7.0, 8.0]])
    def test_exact_p_matches_counting_every_sign_pattern(self,
                                                         differences: list[float]) -> None:
        """The exact p equals the share of all 2^n sign flips at least as extreme."""
        n = len(differences)
        ranks = {abs(d): r for r, d in enumerate(sorted(differences, key=abs), start=1)}
        observed = sum(ranks[abs(d)] for d in differences if d > 0)
        mean = n * (n + 1) / 4
        extreme = sum(
            abs(sum(r for r, sign in zip(range(1, n + 1), signs, strict=True) if sign) - mean)
            >= abs(observed - mean) for signs in itertools.product((0, 1), repeat=n))
        assert signed_rank_p(differences) == pytest.approx(extreme / 2 ** n)

    def test_balanced_signs_give_a_large_p(self) -> None:
        """Differences alternating in sign show no shift."""
        assert signed_rank_p([1, -2, 3, -4, 5, -6]) > 0.5

    def test_ties_and_zeros_use_the_normal_approximation(self) -> None:
        """Tied magnitudes still give a p in (0, 1]; zeros are dropped, all zeros give 1."""
        assert 0 < signed_rank_p([0.1, 0.1, -0.1, 0.2, 0.2, 0.0]) <= 1
        assert signed_rank_p([0.0, 0.0]) == 1.0

    def test_many_shifted_pairs_are_significant(self) -> None:
        """Forty differences, all positive, give a tiny p from the normal approximation."""
        assert signed_rank_p([0.01 * (i + 1) for i in range(40)]) < 1e-6


class TestStudentT:
    @pytest.mark.parametrize(("df", "expected"), [(1, 12.706), (2, 4.303), (5, 2.571),
                                                  (9, 2.262), (29, 2.045), (120, 1.980)])
    def test_quantiles_match_the_printed_table(self, df: int, expected: float) -> None:
        """The 97.5% quantile agrees with the usual table to three decimals."""
        assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)

    def test_quantiles_are_symmetric(self) -> None:
        """The lower quantile is the upper one negated."""
        assert student_t_quantile(0.025, 4) == pytest.approx(-student_t_quantile(0.975, 4))

    def test_bad_arguments_are_errors(self) -> None:
        """No degrees of freedom, or a probability outside (0, 1), is refused."""
        with pytest.raises(ValueError, match="degree"):
            student_t_quantile(0.9, 0)
        with pytest.raises(ValueError, match="probability"):
            student_t_quantile(1.0, 3)


class TestBootstrap:
    def test_interval_holds_the_mean(self) -> None:
        """The interval of the mean contains the sample mean."""
        values = [0.1, 0.2, 0.15, 0.12, 0.18]
        low, high = bootstrap_mean_interval(values)
        assert low <= sum(values) / 5 <= high

    def test_same_seed_same_interval(self) -> None:
        """The bootstrap is reproducible with its seed."""
        values = [1.0, 2.0, 3.0, 5.0]
        assert bootstrap_mean_interval(values, seed=3) == bootstrap_mean_interval(values, seed=3)

    def test_bad_confidence_is_an_error(self) -> None:
        """A confidence outside (0, 1) is refused."""
        with pytest.raises(ValueError, match="confidence"):
            bootstrap_mean_interval([1.0], confidence=1.5)

    def test_no_values_is_an_error(self) -> None:
        """An empty sample cannot be resampled."""
        with pytest.raises(ValueError, match="no values"):
            bootstrap_mean_interval([])


class TestComparePairs:
    def test_halved_time_is_a_fifty_percent_improvement(self) -> None:
        """A candidate taking half the time shows about 50% saved, significantly."""
        result = compare_pairs(_noisy_pairs(0.5, 10, seed=1))
        assert result.improvement == pytest.approx(0.5, abs=0.05)
        assert result.low > 0.4
        assert result.significant_improvement
        assert result.speedup == pytest.approx(2.0, rel=0.15)

    def test_a_quarter_slower_is_a_significant_regression(self) -> None:
        """A candidate taking 25% longer shows a significant regression."""
        result = compare_pairs(_noisy_pairs(1.25, 10, seed=2))
        assert result.improvement == pytest.approx(-0.25, abs=0.06)
        assert result.significant_regression
        assert not result.significant_improvement

    def test_identical_code_rarely_looks_faster(self) -> None:
        """Of 200 A/A comparisons with noise and drift, at most 5% show an improvement."""
        false = sum(compare_pairs(_noisy_pairs(1.0, 8, seed=s, noise=0.1)).significant_improvement
                    for s in range(200))
        assert false <= 10

    def test_non_positive_timing_is_an_error(self) -> None:
        """A zero or negative timing is refused with the values."""
        with pytest.raises(ValueError, match="positive"):
            log_ratios([(1.0, 0.0)])

    def test_no_pairs_is_an_error(self) -> None:
        """Comparing nothing is refused."""
        with pytest.raises(ValueError, match="no pairs"):
            compare_pairs([])

    def test_json_names_the_interval(self) -> None:
        """The JSON carries the improvement, its interval and the confidence."""
        data = compare_pairs([(1.0, 0.5), (1.1, 0.55), (0.9, 0.46)]).to_json()
        assert data["confidence"] == 0.95
        assert data["ci_low"] <= data["improvement"] <= data["ci_high"]
        assert math.isclose(data["speedup"], 1 / (1 - data["improvement"]))


class TestIsTight:
    def test_quiet_pairs_are_tight(self) -> None:
        """Nearly noiseless pairs give a narrow interval."""
        assert is_tight(_noisy_pairs(0.8, 6, seed=4, noise=0.001), half_width=0.02)

    def test_noisy_pairs_are_not_tight(self) -> None:
        """Very noisy pairs do not give a narrow interval."""
        assert not is_tight(_noisy_pairs(0.8, 6, seed=4, noise=0.5), half_width=0.02)

    def test_one_pair_is_never_tight(self) -> None:
        """A single pair says nothing about spread."""
        assert not is_tight([(1.0, 0.5)], half_width=1.0)

    def test_a_tight_slowdown_the_rank_test_denies_is_not_the_end(self) -> None:
        """Seven pairs a fifth slower and one noisy faster one: tight, but not proven slower."""
        pairs = [(1.0, 1.2), (1.0, 1.21), (1.0, 1.19), (1.0, 1.205), (1.0, 1.22), (1.0, 1.18),
                 (1.0, 1.195), (1.0, 0.99)]
        comparison = compare_pairs(pairs)
        assert (comparison.high - comparison.low) / 2 <= 0.1
        assert comparison.improvement < -0.02 and not comparison.significant_regression
        assert not is_tight(pairs, half_width=0.1)
        assert is_tight([*pairs[:7], (1.0, 1.215)], half_width=0.1)


class TestOutOfTime:
    SLOWER_UNPROVEN = [(1.0, 1.2), (1.0, 0.95), (1.2, 1.3), (0.9, 1.0), (1.1, 1.0),
                       (1.0, 1.05), (1.0, 0.98), (1.1, 1.2)]

    def test_within_the_budget_it_goes_on(self) -> None:
        assert not out_of_time(_noisy_pairs(1.0, 8, seed=12), elapsed=19.0, budget=20.0)

    def test_past_the_budget_it_stops(self) -> None:
        """Identical code or a proven slowdown: nothing more to learn, the budget ends it."""
        assert out_of_time(_noisy_pairs(1.0, 8, seed=12, noise=0.01), elapsed=21.0, budget=20.0)
        proven = _noisy_pairs(1.25, 12, seed=13, noise=0.01)
        assert compare_pairs(proven).significant_regression
        assert out_of_time(proven, elapsed=21.0, budget=20.0)

    def test_an_unproven_slowdown_gets_up_to_twice_the_budget(self) -> None:
        pairs = self.SLOWER_UNPROVEN
        assert compare_pairs(pairs).improvement < -0.02
        assert not compare_pairs(pairs).significant_regression
        assert not out_of_time(pairs, elapsed=21.0, budget=20.0)
        assert not out_of_time(pairs, elapsed=39.0, budget=20.0)
        assert out_of_time(pairs, elapsed=41.0, budget=20.0)


def test_a_tight_one_percent_gain_is_under_the_noise_floor() -> None:
    """A consistent 1% difference is not called an improvement: it is within layout noise."""
    result = compare_pairs(_noisy_pairs(0.99, 20, seed=5, noise=0.001))
    assert result.low > 0
    assert not result.significant_improvement


class TestDecideStop:
    def test_only_fixed_looks_are_consulted(self) -> None:
        """Between looks the rule never stops, however clear the pairs are."""
        clear = _noisy_pairs(0.5, 11, seed=6, noise=0.01)
        assert decide_stop(clear, threshold=0.2) is None
        assert decide_stop(clear[:7], threshold=0.2) is None
        assert decide_stop(clear[:8], threshold=0.2) == "success"

    def test_a_halved_time_succeeds_at_the_first_look(self) -> None:
        """A candidate twice as fast clears a 20% threshold after eight pairs."""
        pairs, why = _measure_sequentially(0.5, seed=7, noise=0.02, threshold=0.2)
        assert (len(pairs), why) == (8, "success")

    def test_identical_code_is_futile_at_the_first_look(self) -> None:
        """Identical code with little noise stops after eight pairs: 20% is out of reach."""
        pairs, why = _measure_sequentially(1.0, seed=8, noise=0.01, threshold=0.2)
        assert (len(pairs), why) == (8, "futility")

    def test_a_gain_near_the_threshold_keeps_measuring(self) -> None:
        """A noisy 20% gain whose interval straddles the threshold is not stopped."""
        pairs = _noisy_pairs(0.8, 8, seed=9, noise=0.1)
        assert len(pairs) in LOOKS
        assert compare_pairs(pairs).low < 0.2 <= compare_pairs(pairs).high
        assert decide_stop(pairs, threshold=0.2) is None

    def test_an_unproven_slowdown_keeps_measuring(self) -> None:
        """A noisy slowdown not yet significant goes on until the regression is settled."""
        pairs = [(1.0, 1.2), (1.0, 0.95), (1.2, 1.3), (0.9, 1.0), (1.1, 1.0), (1.0, 1.05),
                 (1.0, 0.98), (1.1, 1.2)]
        assert len(pairs) in LOOKS
        assert compare_pairs(pairs).improvement < -0.02
        assert not compare_pairs(pairs).significant_regression
        assert decide_stop(pairs, threshold=0.2) is None

    def test_a_quarter_slower_stops_as_a_proven_regression(self) -> None:
        """A 25% slowdown stops once the regression is significant, without a threshold."""
        pairs, why = _measure_sequentially(1.25, seed=10, noise=0.05, threshold=None)
        assert why == "futility" and len(pairs) in LOOKS
        assert compare_pairs(pairs).significant_regression

    def test_without_a_threshold_nothing_succeeds(self) -> None:
        """A change measured only for regressions never stops on success."""
        assert decide_stop(_noisy_pairs(0.5, 8, seed=11, noise=0.01), threshold=None) == (
            "futility")


@pytest.mark.slow
@pytest.mark.parametrize("noise", [0.05, 0.15])
def test_sequential_rule_on_pure_noise_keeps_false_positives_under_one_in_20(
        noise: float) -> None:
    """Stopped by the looks rule, 100 A/A measurements show fewer than 5 verdicts either way."""
    improvements = regressions = 0
    for seed in range(100):
        pairs, _ = _measure_sequentially(1.0, seed=1000 + seed, noise=noise, threshold=0.2)
        result = compare_pairs(pairs)
        improvements += result.significant_improvement
        regressions += result.significant_regression
    assert improvements < 5 and regressions < 5
