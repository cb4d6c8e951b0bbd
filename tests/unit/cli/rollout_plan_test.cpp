#include "cli/rollout_plan.hpp"

#include <catch2/catch.hpp>

using namespace cli;

namespace {

std::vector<std::size_t> sizes_of(const std::vector<std::size_t>& ends) {
  std::vector<std::size_t> sizes;
  std::size_t previous = 0;
  for (const auto end : ends) {
    sizes.push_back(end - previous);
    previous = end;
  }
  return sizes;
}

std::vector<std::size_t> plan(std::string_view waves, std::size_t total) {
  const auto steps = parse_waves(waves);
  REQUIRE(steps);
  const auto ends = plan_waves(*steps, total);
  REQUIRE(ends);
  return *ends;
}

}  // namespace

TEST_CASE("Portions are meter counts or percentages with up to two decimals", "[cli][rollout]") {
  CHECK(parse_portion("3", "x").value() == Portion{false, 3});
  CHECK(parse_portion("0", "x").value() == Portion{false, 0});
  CHECK(parse_portion("5%", "x").value() == Portion{true, 500});
  CHECK(parse_portion(" 12.5% ", "x").value() == Portion{true, 1250});
  CHECK(parse_portion("0.25%", "x").value() == Portion{true, 25});
  CHECK(parse_portion("100%", "x").value() == Portion{true, 10000});
  for (const auto* bad : {"", "%", "-1", "1.5", "5 %", "abc", "100.01%", "101%", "0.125%", "1e3", "5%%", ".5%",
                          "1234567890"}) {
    INFO(bad);
    const auto parsed = parse_portion(bad, "--max-failures");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().find("--max-failures") == 0);
  }
  CHECK(to_string(Portion{true, 500}) == "5%");
  CHECK(to_string(Portion{true, 1250}) == "12.5%");
  CHECK(to_string(Portion{true, 25}) == "0.25%");
  CHECK(to_string(Portion{true, 5}) == "0.05%");
  CHECK(to_string(Portion{false, 7}) == "7");
  for (const auto* text : {"1", "5%", "12.5%", "0.25%", "100%"}) {
    CHECK(to_string(parse_portion(text, "x").value()) == text);
  }
}

TEST_CASE("Percentages are exact: 5% of 100 is 5, rounded up for waves and down for thresholds", "[cli][rollout]") {
  CHECK(portion_of({true, 500}, 100, true) == 5);
  CHECK(portion_of({true, 500}, 100, false) == 5);
  CHECK(portion_of({true, 500}, 30, true) == 2);
  CHECK(portion_of({true, 500}, 30, false) == 1);
  CHECK(portion_of({true, 10000}, 7, true) == 7);
  CHECK(portion_of({true, 1}, 100000, false) == 10);
  CHECK(portion_of({false, 4}, 100, true) == 4);
}

TEST_CASE("Waves 1,5%,100% over 100 meters hold 1, 4 and 95", "[cli][rollout]") {
  CHECK(plan("1,5%,100%", 100) == std::vector<std::size_t>{1, 5, 100});
  CHECK(sizes_of(plan("1,5%,100%", 100)) == std::vector<std::size_t>{1, 4, 95});
}

TEST_CASE("Wave steps are cumulative and always add a meter", "[cli][rollout]") {
  // No list: one wave of all.
  CHECK(plan_waves({}, 6).value() == std::vector<std::size_t>{6});
  // 5% of 10 is one meter, the first wave's; the second wave still adds one.
  CHECK(plan("1,5%,100%", 10) == std::vector<std::size_t>{1, 2, 10});
  // Steps beyond the meters stop at the last one, and nothing follows.
  CHECK(plan("1,5,100%", 3) == std::vector<std::size_t>{1, 3});
  CHECK(plan("10,100%", 4) == std::vector<std::size_t>{4});
  CHECK(plan("1,2,3", 3) == std::vector<std::size_t>{1, 2, 3});
  // Counts and percentages mix: 10 then 5% of 1000.
  CHECK(sizes_of(plan("10,5%,100%", 1000)) == std::vector<std::size_t>{10, 40, 950});
  // A step smaller than the one before it becomes one more.
  CHECK(plan("5,2,100%", 10) == std::vector<std::size_t>{5, 6, 10});
  CHECK(plan_waves({{true, 10000}}, 0).value().empty());
}

TEST_CASE("A wave list that leaves meters out is refused", "[cli][rollout]") {
  const auto steps = parse_waves("1,10");
  REQUIRE(steps);
  const auto ends = plan_waves(*steps, 100);
  REQUIRE_FALSE(ends);
  CHECK(ends.error() == "the waves 1,10 cover 10 of the 100 meters selected; end the list with 100%");
}

TEST_CASE("Wave lists are checked as they are read", "[cli][rollout]") {
  CHECK(parse_waves("1, 5% ,100%").value() == std::vector<Portion>{{false, 1}, {true, 500}, {true, 10000}});
  CHECK(to_string(parse_waves("1,5%,100%").value()) == "1,5%,100%");
  for (const auto* bad : {"", "1,,100%", "0,100%", "0%", "1;100%", "1,x"}) {
    INFO(bad);
    CHECK_FALSE(parse_waves(bad));
  }
  std::string many;
  for (std::size_t i = 0; i <= k_max_waves; ++i) many += (many.empty() ? "" : ",") + std::to_string(i + 1);
  CHECK_FALSE(parse_waves(many));
}

TEST_CASE("The rollout stops when failures exceed the threshold, not when they reach it", "[cli][rollout]") {
  struct Row {
    const char* max_failures;
    std::size_t selected;
    std::size_t first_failure_that_stops;
  };
  // N=2 tolerates two failures: the third stops. 5% of 100 is 5: the sixth stops.
  const Row rows[] = {{"0", 10, 1}, {"1", 10, 2}, {"2", 10, 3}, {"5%", 100, 6}, {"5%", 30, 2},
                      {"5%", 10, 1}, {"50%", 7, 4}, {"100%", 4, 5}};
  for (const auto& row : rows) {
    INFO(row.max_failures << " of " << row.selected);
    const auto tolerated = tolerated_failures(parse_portion(row.max_failures, "--max-failures").value(), row.selected);
    for (std::size_t failures = 0; failures < row.first_failure_that_stops; ++failures) {
      CHECK_FALSE(threshold_passed(failures, tolerated));
    }
    CHECK(threshold_passed(row.first_failure_that_stops, tolerated));
  }
  CHECK(tolerated_failures({true, 500}, 100) == 5);
}

TEST_CASE("The stop message names the failures and the threshold", "[cli][rollout]") {
  CHECK(stop_message(3, {false, 2}, "--max-failures", 2, 10) == "rollout stopped: 3 failures exceed --max-failures 2");
  CHECK(stop_message(1, {false, 0}, "--max-failures", 0, 10) == "rollout stopped: 1 failure exceeds --max-failures 0");
  CHECK(stop_message(3, {true, 500}, "the inventory's rollout.max_failures", 2, 40) ==
        "rollout stopped: 3 failures exceed the inventory's rollout.max_failures 5% (2 of 40 meters)");
}
