#include "firmware/simulation/scenario.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace meterd::simulation {

namespace {

using proto::model::YamlError;
using proto::model::YamlFieldError;
using proto::model::YamlMap;

constexpr double k_sqrt3 = 1.7320508075688772;

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Seconds written back in the notation the file uses, for messages.
std::string format_duration(double seconds) {
  if (seconds >= 3600.0 && std::fmod(seconds, 3600.0) == 0.0) return format_number(seconds / 3600.0) + "h";
  if (seconds >= 60.0 && std::fmod(seconds, 60.0) == 0.0) return format_number(seconds / 60.0) + "m";
  return format_number(seconds) + "s";
}

bool is_absent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

std::string context_key(std::string_view context, std::string_view key) {
  return std::string(context) + "." + std::string(key);
}

double read_duration(const YamlMap& map, std::string_view context, std::string_view key, double min,
                     bool min_exclusive, double max) {
  const auto node = map.required(key);
  const auto what = context_key(context, key);
  const auto text = proto::model::scalar_string(node, map.file(), what);
  const auto seconds = parse_duration_seconds(text);
  if (!seconds) {
    map.fail(node, what + " must be a duration such as 90s, 10m or 2h (a plain number is seconds), not '" +
                       text + "'");
  }
  if (*seconds < min || (min_exclusive && *seconds == min) || *seconds > max) {
    map.fail(node, what + " is " + text + "; it must be " + (min_exclusive ? "more than " : "at least ") +
                       format_duration(min) + " and at most " + format_duration(max));
  }
  return *seconds;
}

template <typename Enum, std::size_t N>
Enum read_word(const YamlMap& map, std::string_view context, std::string_view key,
               const std::array<std::pair<std::string_view, Enum>, N>& words,
               std::optional<Enum> fallback) {
  const auto node = map.optional(key);
  if (is_absent(node) && fallback) return *fallback;
  const auto what = context_key(context, key);
  const auto text = proto::model::scalar_string(map.required(key), map.file(), what);
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (text == words[i].first) return words[i].second;
    list += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(words[i].first);
  }
  map.fail(node, what + " is '" + text + "'; write " + list);
}

void read_header(const YamlMap& root, Scenario& scenario) {
  const auto api_version = root.string("apiVersion");
  if (api_version != k_scenario_api_version) {
    root.fail(root.required("apiVersion"), "apiVersion is '" + api_version + "'; this meterd reads '" +
                                               std::string(k_scenario_api_version) + "'");
  }
  const auto kind = root.string("kind");
  if (kind != k_scenario_kind) {
    root.fail(root.required("kind"),
              "kind is '" + kind + "'; a scenario file has kind: " + std::string(k_scenario_kind));
  }
  scenario.name = root.string("name");
  const bool name_ok = !scenario.name.empty() && scenario.name.size() <= k_max_scenario_name_length &&
                       std::all_of(scenario.name.begin(), scenario.name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '_' || c == '.';
                       });
  if (!name_ok) {
    root.fail(root.required("name"), "name must be 1 to " + std::to_string(k_max_scenario_name_length) +
                                         " letters, digits, '-', '_' or '.'; put prose in description");
  }
  scenario.description = root.string_or("description", "");
  if (scenario.description.size() > k_max_description_length) {
    root.fail(root.required("description"), "description is longer than " +
                                                std::to_string(k_max_description_length) + " characters");
  }
}

Nominal read_nominal(const YamlMap& root, Wiring wiring) {
  const YamlMap map(root.required("nominal"), root.file(), "nominal");
  map.allow_only({"voltage_ln", "voltage_ll", "frequency", "current", "power_factor", "power_factor_sense",
                  "phase_imbalance_pct"});
  Nominal nominal;
  const bool has_ln = map.has("voltage_ln");
  const bool has_ll = map.has("voltage_ll");
  if (has_ln && has_ll) {
    map.fail(map.required("voltage_ll"), "nominal gives both voltage_ln and voltage_ll; keep one, the other follows");
  }
  if (wiring == Wiring::delta && has_ln) {
    map.fail(map.required("voltage_ln"),
             "a delta system has no neutral; give nominal.voltage_ll (line to line, e.g. 400) instead");
  }
  if (!has_ln && !has_ll) {
    map.fail(map.node(), wiring == Wiring::delta
                             ? "nominal lacks voltage_ll; add the line-to-line voltage, e.g. voltage_ll: 400"
                             : "nominal lacks voltage_ln; add the line-to-neutral voltage, e.g. voltage_ln: 230");
  }
  if (has_ln) {
    nominal.voltage_ln = map.number("voltage_ln", k_min_nominal_voltage, k_max_nominal_voltage);
    nominal.voltage_ll = nominal.voltage_ln * k_sqrt3;
  } else {
    nominal.voltage_ll = map.number("voltage_ll", k_min_nominal_voltage, k_max_nominal_voltage);
    nominal.voltage_ln = nominal.voltage_ll / k_sqrt3;
  }
  nominal.frequency_hz = map.number("frequency", k_min_frequency_hz, k_max_frequency_hz);
  nominal.current = map.number("current", 0.0, k_max_nominal_current);
  nominal.power_factor = map.number_or("power_factor", 1.0, 0.0, 1.0);
  nominal.power_factor_sense = read_word<PowerFactorSense, 2>(
      map, "nominal", "power_factor_sense",
      {{{"lagging", PowerFactorSense::lagging}, {"leading", PowerFactorSense::leading}}},
      PowerFactorSense::lagging);
  nominal.phase_imbalance_pct = map.number_or("phase_imbalance_pct", 0.0, 0.0, k_max_phase_imbalance_pct);
  return nominal;
}

Harmonics read_harmonics(const YamlMap& root) {
  Harmonics harmonics;
  const auto node = root.optional("harmonics");
  if (is_absent(node)) return harmonics;
  const YamlMap map(node, root.file(), "harmonics");
  map.allow_only({"voltage_thd_pct", "current_thd_pct"});
  harmonics.voltage_thd_pct = map.number_or("voltage_thd_pct", 0.0, 0.0, k_max_voltage_thd_pct);
  harmonics.current_thd_pct = map.number_or("current_thd_pct", 0.0, 0.0, k_max_current_thd_pct);
  return harmonics;
}

Noise read_noise(const YamlMap& root) {
  Noise noise;
  const auto node = root.optional("noise");
  if (is_absent(node)) return noise;
  const YamlMap map(node, root.file(), "noise");
  map.allow_only({"voltage_pct", "current_pct", "frequency_hz", "thd_pct", "period_s"});
  noise.voltage_pct = map.number_or("voltage_pct", 0.0, 0.0, k_max_voltage_noise_pct);
  noise.current_pct = map.number_or("current_pct", 0.0, 0.0, k_max_current_noise_pct);
  noise.frequency_hz = map.number_or("frequency_hz", 0.0, 0.0, k_max_frequency_noise_hz);
  noise.thd_pct = map.number_or("thd_pct", 0.0, 0.0, k_max_thd_noise_pct);
  noise.period_s = map.number_or("period_s", 1.0, k_min_noise_period_s, k_max_noise_period_s);
  return noise;
}

std::vector<ProfilePoint> read_load_profile(const YamlMap& root) {
  std::vector<ProfilePoint> profile;
  const auto node = root.optional("load_profile");
  if (is_absent(node)) return profile;
  if (!node.IsSequence()) {
    root.fail(node, "load_profile must be a list of {at: \"HH:MM\", load: factor} entries");
  }
  if (node.size() == 0) {
    root.fail(node, "load_profile is empty; remove it for a constant load of 1.0, or add entries");
  }
  if (node.size() > k_max_profile_points) {
    root.fail(node, "load_profile has " + std::to_string(node.size()) + " entries; at most " +
                        std::to_string(k_max_profile_points) + " (one per minute) are allowed");
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const auto context = "load_profile[" + std::to_string(i) + "]";
    const YamlMap entry(node[i], root.file(), context);
    entry.allow_only({"at", "load"});
    const auto at_text = proto::model::scalar_string(entry.required("at"), root.file(), context + ".at");
    const auto second_of_day = parse_time_of_day_seconds(at_text);
    if (!second_of_day) {
      entry.fail(entry.required("at"), context + ".at is '" + at_text +
                                           "'; write the time of day as \"HH:MM\" from \"00:00\" to \"23:59\"");
    }
    for (const auto& earlier : profile) {
      if (earlier.second_of_day == *second_of_day) {
        entry.fail(entry.required("at"), "load_profile has " + at_text + " twice; keep one entry per time");
      }
    }
    profile.push_back({*second_of_day, entry.number("load", k_min_load_factor, k_max_load_factor)});
  }
  std::sort(profile.begin(), profile.end(),
            [](const ProfilePoint& a, const ProfilePoint& b) { return a.second_of_day < b.second_of_day; });
  return profile;
}

std::array<bool, 3> read_phases(const YamlMap& entry, std::string_view context) {
  const auto advice = std::string(context) + ".phases must be the word all or a list of a, b, c such as [a, c]";
  if (is_absent(entry.optional("phases"))) {
    entry.fail(entry.node(), std::string(context) + " lacks phases; say which: all, or a list such as [a, c]");
  }
  const auto node = entry.required("phases");
  if (node.IsScalar()) {
    if (node.Scalar() == "all") return {true, true, true};
    entry.fail(node, advice + ", not '" + node.Scalar() + "'");
  }
  if (!node.IsSequence() || node.size() == 0) entry.fail(node, advice);
  std::array<bool, 3> phases{};
  for (const auto& item : node) {
    const auto name = proto::model::scalar_string(item, entry.file(), std::string(context) + ".phases");
    const auto index = name == "a" ? 0 : name == "b" ? 1 : name == "c" ? 2 : -1;
    if (index < 0) entry.fail(item, "unknown phase '" + name + "'; " + advice);
    if (phases[static_cast<std::size_t>(index)]) entry.fail(item, "phase " + name + " is listed twice");
    phases[static_cast<std::size_t>(index)] = true;
  }
  return phases;
}

Event read_event(const YAML::Node& node, std::string_view file, std::size_t index, const Nominal& nominal) {
  const auto context = "events[" + std::to_string(index) + "]";
  const YamlMap entry(node, file, context);
  Event event;
  event.type = read_word<EventType, 4>(entry, context, "type",
                                       {{{"sag", EventType::sag},
                                         {"swell", EventType::swell},
                                         {"outage", EventType::outage},
                                         {"frequency", EventType::frequency}}},
                                       std::nullopt);
  switch (event.type) {
    case EventType::sag:
    case EventType::swell:
      entry.allow_only({"at", "duration", "type", "phases", "magnitude_pct"});
      break;
    case EventType::outage:
      entry.allow_only({"at", "duration", "type", "phases"});
      break;
    case EventType::frequency:
      entry.allow_only({"at", "duration", "type", "deviation_hz"});
      break;
  }
  event.start_s = read_duration(entry, context, "at", 0.0, false, k_max_event_time_s);
  event.duration_s = read_duration(entry, context, "duration", 0.0, true, k_max_event_time_s);
  if (event.type != EventType::frequency) event.phases = read_phases(entry, context);

  if (event.type == EventType::sag) {
    event.magnitude_pct = entry.number("magnitude_pct", k_min_sag_pct, 100.0);
    if (event.magnitude_pct >= 100.0) {
      entry.fail(entry.required("magnitude_pct"),
                 context + ".magnitude_pct must be below 100 for a sag; use type: swell to raise the voltage");
    }
  } else if (event.type == EventType::swell) {
    event.magnitude_pct = entry.number("magnitude_pct", 100.0, k_max_swell_pct);
    if (event.magnitude_pct <= 100.0) {
      entry.fail(entry.required("magnitude_pct"),
                 context + ".magnitude_pct must be above 100 for a swell; use type: sag to lower the voltage");
    }
  } else if (event.type == EventType::frequency) {
    event.deviation_hz = entry.number("deviation_hz", -k_max_frequency_deviation_hz, k_max_frequency_deviation_hz);
    const double shifted = nominal.frequency_hz + event.deviation_hz;
    if (event.deviation_hz == 0.0 || shifted < k_min_frequency_hz || shifted > k_max_frequency_hz) {
      entry.fail(entry.required("deviation_hz"),
                 context + ".deviation_hz must be non-zero and keep the frequency between " +
                     format_number(k_min_frequency_hz) + " and " + format_number(k_max_frequency_hz) + " Hz");
    }
  }
  return event;
}

std::vector<Event> read_events(const YamlMap& root, const Nominal& nominal) {
  std::vector<Event> events;
  const auto node = root.optional("events");
  if (is_absent(node)) return events;
  if (!node.IsSequence()) root.fail(node, "events must be a list of {at, duration, type, ...} entries");
  if (node.size() > k_max_events) {
    root.fail(node, "events has " + std::to_string(node.size()) + " entries; at most " +
                        std::to_string(k_max_events) + " are allowed; use repeat_events_every for patterns");
  }
  for (std::size_t i = 0; i < node.size(); ++i) events.push_back(read_event(node[i], root.file(), i, nominal));
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.start_s < b.start_s; });
  return events;
}

double read_repeat_period(const YamlMap& root, const std::vector<Event>& events) {
  if (is_absent(root.optional("repeat_events_every"))) return 0.0;
  const double period = read_duration(root, "scenario", "repeat_events_every", 0.0, true, k_max_event_time_s);
  double last_end = 0.0;
  for (const auto& event : events) last_end = std::max(last_end, event.end_s());
  if (period < last_end) {
    root.fail(root.required("repeat_events_every"),
              "repeat_events_every is " + format_duration(period) + " but an event lasts until " +
                  format_duration(last_end) + "; make the period at least that long so repetitions do not overlap");
  }
  return period;
}

Scenario read_scenario(const YAML::Node& document, std::string_view file) {
  const YamlMap root(document, file, "scenario");
  root.allow_only({"apiVersion", "kind", "name", "description", "wiring", "nominal", "harmonics", "noise",
                   "time_acceleration", "utc_offset_hours", "load_profile", "events", "repeat_events_every"});
  Scenario scenario;
  read_header(root, scenario);
  scenario.wiring = read_word<Wiring, 2>(root, "scenario", "wiring",
                                         {{{"wye", Wiring::wye}, {"delta", Wiring::delta}}}, std::nullopt);
  scenario.nominal = read_nominal(root, scenario.wiring);
  scenario.harmonics = read_harmonics(root);
  scenario.noise = read_noise(root);
  scenario.time_acceleration =
      root.number_or("time_acceleration", 1.0, k_min_time_acceleration, k_max_time_acceleration);
  scenario.utc_offset_hours = root.number_or("utc_offset_hours", 0.0, k_min_utc_offset_hours, k_max_utc_offset_hours);
  scenario.load_profile = read_load_profile(root);
  scenario.events = read_events(root, scenario.nominal);
  scenario.repeat_events_every_s = read_repeat_period(root, scenario.events);
  return scenario;
}

proto::Result<Scenario, YamlError> scenario_from_document(const YAML::Node& document, std::string_view file) {
  try {
    return read_scenario(document, file);
  } catch (const YamlFieldError& failure) {
    return proto::unexpected(failure.error);
  } catch (const YAML::Exception& failure) {
    // yaml-cpp throws on some malformed node accesses; report it located like any other error.
    return proto::unexpected(
        YamlError{std::string(file), failure.mark.line + 1, failure.mark.column + 1, failure.msg});
  }
}

}  // namespace

std::optional<double> parse_duration_seconds(std::string_view text) {
  double unit = 1.0;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': text.remove_suffix(1); break;
      case 'm': unit = 60.0; text.remove_suffix(1); break;
      case 'h': unit = 3600.0; text.remove_suffix(1); break;
      default: break;
    }
  }
  // Digits with an optional fraction: no sign, exponent or spaces, so "1e3s" and "-5s" fail.
  const auto point = text.find('.');
  const auto digits_only = [](std::string_view part) {
    return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (point == std::string_view::npos ? !digits_only(text)
                                      : !digits_only(text.substr(0, point)) || !digits_only(text.substr(point + 1))) {
    return std::nullopt;
  }
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value * unit)) return std::nullopt;
  return value * unit;
}

std::optional<double> parse_time_of_day_seconds(std::string_view text) {
  const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || !digit(0) || !digit(1) || text[2] != ':' || !digit(3) || !digit(4)) return std::nullopt;
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  return static_cast<double>(hours * 3600 + minutes * 60);
}

proto::Result<Scenario, YamlError> load_scenario(std::string_view yaml_text, std::string_view file_name) {
  auto document = proto::model::parse_yaml(yaml_text, file_name);
  if (!document) return proto::unexpected(document.error());
  return scenario_from_document(*document, file_name);
}

proto::Result<Scenario, YamlError> load_scenario_file(const std::filesystem::path& path) {
  auto document = proto::model::load_yaml_file(path);
  if (!document) return proto::unexpected(document.error());
  return scenario_from_document(*document, path.string());
}

}  // namespace meterd::simulation
