#include "cli/rollout_plan.hpp"

#include <algorithm>

namespace cli {

namespace {

// More meters than an inventory may hold (k_max_inventory_meters) fits in nine digits;
// a longer number is a typing mistake, and refusing it keeps the arithmetic far from
// overflow.
constexpr std::size_t k_max_count_digits = 9;

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::uint64_t number_of(std::string_view digits) {
  std::uint64_t value = 0;
  for (const char c : digits) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  return value;
}

}  // namespace

proto::Result<Portion, std::string> parse_portion(std::string_view text, std::string_view what) {
  const auto value = trimmed(text);
  const auto refuse = [&] {
    return proto::unexpected(std::string(what) + " '" + std::string(value) +
                             "' is not a number of meters (3) or a percentage of them (5%, 12.5%)");
  };
  if (value.empty() || value.size() > k_max_count_digits + 4) return refuse();
  if (value.back() != '%') {
    if (!all_digits(value) || value.size() > k_max_count_digits) return refuse();
    return Portion{false, number_of(value)};
  }
  auto number = value.substr(0, value.size() - 1);
  std::string_view whole = number;
  std::string_view fraction;
  if (const auto dot = number.find('.'); dot != std::string_view::npos) {
    whole = number.substr(0, dot);
    fraction = number.substr(dot + 1);
    if (fraction.empty() || fraction.size() > 2 || !all_digits(fraction)) return refuse();
  }
  if (!all_digits(whole) || whole.size() > 3) return refuse();
  std::uint64_t hundredths = number_of(whole) * 100;
  if (!fraction.empty()) hundredths += number_of(fraction) * (fraction.size() == 1 ? 10 : 1);
  if (hundredths > k_whole_percent) {
    return proto::unexpected(std::string(what) + " '" + std::string(value) + "' is above 100%");
  }
  return Portion{true, hundredths};
}

std::string to_string(const Portion& portion) {
  if (!portion.percent) return std::to_string(portion.amount);
  std::string text = std::to_string(portion.amount / 100);
  if (const auto fraction = portion.amount % 100; fraction != 0) {
    text += fraction % 10 == 0 ? "." + std::to_string(fraction / 10)
                               : (fraction < 10 ? ".0" : ".") + std::to_string(fraction);
  }
  return text + "%";
}

std::size_t portion_of(const Portion& portion, std::size_t total, bool round_up) {
  if (!portion.percent) return static_cast<std::size_t>(portion.amount);
  // Integers throughout: 5% of 100 must be exactly 5, which 0.05 * 100 in binary
  // floating point is not.
  const auto scaled = static_cast<std::uint64_t>(total) * portion.amount;
  return static_cast<std::size_t>(round_up ? (scaled + k_whole_percent - 1) / k_whole_percent
                                           : scaled / k_whole_percent);
}

proto::Result<std::vector<Portion>, std::string> parse_waves(std::string_view text) {
  std::vector<Portion> steps;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    auto step = parse_portion(item, "--waves step");
    if (!step) return proto::unexpected(step.error() + "; --waves is a list such as 1,5%,100%");
    if (step->amount == 0) {
      return proto::unexpected("--waves step '" + std::string(trimmed(item)) +
                               "' is empty: a wave holds a meter or more");
    }
    steps.push_back(*step);
    if (steps.size() > k_max_waves) {
      return proto::unexpected("--waves lists more than " + std::to_string(k_max_waves) + " waves");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return steps;
}

std::string to_string(const std::vector<Portion>& waves) {
  std::string text;
  for (const auto& step : waves) text += (text.empty() ? "" : ",") + to_string(step);
  return text;
}

proto::Result<std::vector<std::size_t>, std::string> plan_waves(const std::vector<Portion>& steps, std::size_t total) {
  std::vector<std::size_t> ends;
  if (total == 0) return ends;
  if (steps.empty()) return std::vector<std::size_t>{total};
  for (const auto& step : steps) {
    const std::size_t previous = ends.empty() ? 0 : ends.back();
    const auto covered = std::min(total, std::max(portion_of(step, total, true), previous + 1));
    ends.push_back(covered);
    if (covered == total) return ends;
  }
  return proto::unexpected("the waves " + to_string(steps) + " cover " + std::to_string(ends.back()) + " of the " +
                           std::to_string(total) + " meters selected; end the list with 100%");
}

std::size_t tolerated_failures(const Portion& max_failures, std::size_t selected) {
  return portion_of(max_failures, selected, false);
}

std::string stop_message(std::size_t failures, const Portion& max_failures, std::string_view source,
                         std::size_t tolerated, std::size_t selected) {
  std::string text = "rollout stopped: " + std::to_string(failures) + (failures == 1 ? " failure" : " failures") +
                     (failures == 1 ? " exceeds " : " exceed ") + std::string(source) + " " + to_string(max_failures);
  if (max_failures.percent) {
    text += " (" + std::to_string(tolerated) + " of " + std::to_string(selected) +
            (selected == 1 ? " meter)" : " meters)");
  }
  return text;
}

}  // namespace cli
