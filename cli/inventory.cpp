#include "cli/inventory.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "libproto/model/yaml_document.hpp"

namespace cli {

namespace {

using proto::model::scalar_string;
using proto::model::YamlMap;

std::string location_of(const YAML::Node& node, const std::string& file) {
  const auto mark = node.Mark();
  if (mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::filesystem::path resolve(const std::filesystem::path& inventory, const std::string& relative) {
  const std::filesystem::path path(relative);
  if (path.is_absolute()) return path.lexically_normal();
  return (inventory.parent_path() / path).lexically_normal();
}

bool is_word_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// A tag key is a label such as `site` or `example.com/role` (Kubernetes label style).
bool valid_tag_key(std::string_view key) {
  if (key.empty() || key.size() > k_max_meter_name_length) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return is_word_character(c) || c == '/'; });
}

// POSIX.1-2017, 8.1: names of environment variables the shell can set.
bool valid_variable_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_address(std::string_view address) {
  if (address.empty() || address.size() > k_max_address_length) return false;
  // Blanks, controls and brackets cannot be part of a host name or an address literal;
  // IPv6 literals come without brackets here, since the port has its own key.
  return std::none_of(address.begin(), address.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/';
  });
}

struct Settings {
  std::optional<std::uint16_t> port;
  std::optional<bool> tls;
  std::optional<InventoryCredentials> credentials;
  std::map<std::string, std::string> tags;
  std::optional<std::filesystem::path> profile;
};

bool read_boolean(const YamlMap& map, std::string_view key) {
  const auto node = map.required(key);
  const auto text = scalar_string(node, map.file(), std::string(key));
  if (text == "true") return true;
  if (text == "false") return false;
  map.fail(node, std::string(key) + " must be true or false, not '" + text + "'");
}

InventoryCredentials read_credentials(const YAML::Node& node, const std::filesystem::path& file) {
  const auto file_name = file.string();
  YamlMap map(node, file_name, "credentials");
  map.allow_only({"user", "password_file", "password_env"});
  InventoryCredentials credentials;
  credentials.location = location_of(node, file_name);
  if (map.has("user")) {
    credentials.user = map.string("user");
    if (credentials.user.empty()) map.fail(map.required("user"), "credentials.user must not be empty");
  }
  if (map.has("password_file") && map.has("password_env")) {
    map.fail(map.required("password_env"),
             "credentials give both password_file and password_env; keep the one the password is in");
  }
  if (map.has("password_file")) {
    const auto path = map.string("password_file");
    if (path.empty()) map.fail(map.required("password_file"), "credentials.password_file must not be empty");
    credentials.password_file = resolve(file, path);
  }
  if (map.has("password_env")) {
    const auto name = map.string("password_env");
    if (!valid_variable_name(name)) {
      map.fail(map.required("password_env"),
               "credentials.password_env '" + name + "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    credentials.password_env = name;
  }
  return credentials;
}

std::map<std::string, std::string> read_tags(const YAML::Node& node, const std::string& file) {
  YamlMap map(node, file, "tags");
  std::map<std::string, std::string> tags;
  for (const auto& entry : map.node()) {
    const auto key = scalar_string(entry.first, file, "tag name");
    if (!valid_tag_key(key)) {
      map.fail(entry.first, "tag name '" + key + "' must be 1 to 64 characters of letters, digits, '.', '_', '-', '/'");
    }
    if (key == "name") map.fail(entry.first, "'name' cannot be a tag: --select name=PATTERN picks meters by name");
    tags[key] = scalar_string(entry.second, file, "tag '" + key + "'");
    if (tags.size() > k_max_tags) map.fail(entry.first, "more than " + std::to_string(k_max_tags) + " tags");
  }
  return tags;
}

// The keys a meter shares with `defaults`.
void read_settings(const YamlMap& map, const std::filesystem::path& file, Settings& settings) {
  if (map.has("port")) settings.port = static_cast<std::uint16_t>(map.integer("port", 1, 65535));
  if (map.has("tls")) settings.tls = read_boolean(map, "tls");
  if (map.has("credentials")) settings.credentials = read_credentials(map.required("credentials"), file);
  if (map.has("tags")) {
    for (auto& [key, value] : read_tags(map.required("tags"), file.string())) settings.tags[key] = std::move(value);
  }
  if (map.has("profile")) {
    const auto path = map.string("profile");
    if (path.empty()) map.fail(map.required("profile"), "profile must name a file");
    settings.profile = resolve(file, path);
  }
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The text of a block mapping that starts at (line, column) of `text`, as a profile
// document whose every line and column is the one of the inventory: blank lines before
// it, apiVersion and kind on the two lines above, indented like the block. Then the
// profile parser's errors and locations point into the inventory itself. nullopt when
// the block does not allow it (a flow mapping, text before it on its line).
std::optional<std::string> block_as_profile(std::string_view text, int line, int column) {
  if (line < 2 || column < 1) return std::nullopt;
  const auto lines = split_lines(text);
  const auto first = static_cast<std::size_t>(line);
  const auto indent = static_cast<std::size_t>(column);
  if (first >= lines.size() || lines[first].size() <= indent) return std::nullopt;
  if (lines[first].substr(0, indent).find_first_not_of(' ') != std::string_view::npos) return std::nullopt;
  std::string document(first - 2, '\n');
  const std::string pad(indent, ' ');
  document += pad + std::string("apiVersion: ") + std::string(sec::k_profile_api_version) + "\n";
  document += pad + std::string("kind: ") + std::string(sec::k_profile_kind) + "\n";
  for (std::size_t i = first; i < lines.size(); ++i) {
    const auto content = lines[i].find_first_not_of(" \r");
    const bool blank_or_comment = content == std::string_view::npos || lines[i][content] == '#';
    // YAML 1.2, 8.2.1: a block mapping ends at the first line indented less than it.
    if (i > first && !blank_or_comment && content < indent) break;
    document += lines[i];
    document += '\n';
  }
  return document;
}

// A flow mapping (`overrides: {...}`) or an anchored one: emitted again as a document of
// its own, its problems located at the overrides key.
std::string emitted_as_profile(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << std::string(sec::k_profile_api_version);
  out << YAML::Key << "kind" << YAML::Value << std::string(sec::k_profile_kind);
  for (const auto& entry : node) out << YAML::Key << entry.first << YAML::Value << entry.second;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string relocated(const std::string& text, const std::string& source, const std::string& location) {
  if (text.rfind(source + ":", 0) != 0) return text;
  auto rest = text.substr(source.size() + 1);
  // Skip "line:col" (or "line") before the message.
  std::size_t i = 0;
  for (int field = 0; field < 2; ++field) {
    const auto digits = i;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    if (i == digits || i >= rest.size() || rest[i] != ':') {
      i = digits;
      break;
    }
    ++i;
  }
  return location + ":" + rest.substr(i);
}

sec::MeterProfile read_overrides(const YAML::Node& node, std::string_view text, const std::filesystem::path& file,
                                 const std::string& meter) {
  const auto file_name = file.string();
  YamlMap map(node, file_name, "overrides of meter '" + meter + "'");
  for (const auto& entry : map.node()) {
    const auto key = scalar_string(entry.first, file_name, "profile key");
    if (key == "apiVersion" || key == "kind" || key == "extends") {
      map.fail(entry.first, "overrides cannot set '" + key +
                                "': they are profile keys laid over the meter's profile; name another profile "
                                "with the meter's profile key");
    }
  }
  const auto mark = node.Mark();
  std::optional<std::string> document;
  if (node.Style() != YAML::EmitterStyle::Flow) document = block_as_profile(text, mark.line, mark.column);
  const bool in_place = document.has_value();
  const std::string source = in_place ? file_name : "<overrides of " + meter + ">";
  if (!in_place) document = emitted_as_profile(node);
  auto parsed = sec::parse_meter_profile(*document, source);
  const auto here = location_of(node, file_name);
  if (!parsed)
    throw proto::model::YamlFieldError{
        {file_name, 0, 0, in_place ? parsed.error() : relocated(parsed.error(), source, here)}};
  auto profile = std::move(*parsed);
  if (!in_place) {
    for (auto& [path, location] : profile.locations) location = here;
    for (auto& user : profile.security.users) user.location = here;
    for (auto& recorder : profile.recorders) recorder.location = here;
  }
  for (auto& user : profile.security.users) {
    if (user.password_file) user.password_file = resolve(file, *user.password_file).string();
  }
  return profile;
}

InventoryRollout read_rollout(const YAML::Node& node, const std::string& file) {
  YamlMap map(node, file, "rollout");
  map.allow_only({"waves", "max_failures"});
  InventoryRollout rollout;
  rollout.location = location_of(node, file);
  if (map.has("waves")) {
    const auto waves = map.required("waves");
    if (!waves.IsSequence() || waves.size() == 0) {
      map.fail(waves, "rollout.waves must be a list of steps, such as [1, \"5%\", \"100%\"]");
    }
    if (waves.size() > k_max_waves) {
      map.fail(waves, "rollout.waves lists more than " + std::to_string(k_max_waves) + " waves");
    }
    std::vector<Portion> steps;
    for (const auto& item : waves) {
      auto step = parse_portion(scalar_string(item, file, "rollout.waves step"), "rollout.waves step");
      if (!step) map.fail(item, step.error());
      if (step->amount == 0) map.fail(item, "a rollout.waves step holds a meter or more");
      steps.push_back(*step);
    }
    rollout.waves = std::move(steps);
  }
  if (map.has("max_failures")) {
    const auto node_of = map.required("max_failures");
    auto threshold = parse_portion(scalar_string(node_of, file, "rollout.max_failures"), "rollout.max_failures");
    if (!threshold) map.fail(node_of, threshold.error());
    rollout.max_failures = *threshold;
  }
  return rollout;
}

// A message that already carries "file:line:col: " travels as it is.
std::string to_message(const proto::model::YamlError& error) {
  if (error.line == 0 && error.column == 0 && error.message.rfind(error.file, 0) == 0) return error.message;
  return error.to_string();
}

}  // namespace

bool valid_meter_name(std::string_view name) {
  return !name.empty() && name.size() <= k_max_meter_name_length &&
         std::all_of(name.begin(), name.end(), is_word_character);
}

proto::Result<Inventory, std::string> parse_inventory(std::string_view yaml_text, const std::filesystem::path& file) {
  const auto file_name = file.string();
  auto root = proto::model::parse_yaml(yaml_text, file_name);
  if (!root) return proto::unexpected(root.error().to_string());
  Inventory inventory;
  try {
    if (root->IsNull()) {
      proto::model::fail_at(*root, file_name, "empty inventory: it needs apiVersion, kind and meters");
    }
    YamlMap map(*root, file_name, "inventory");
    map.allow_only({"apiVersion", "kind", "defaults", "meters", "rollout"});
    if (const auto api = map.string("apiVersion"); api != k_inventory_api_version) {
      map.fail(map.required("apiVersion"),
               "apiVersion is '" + api + "'; this meterctl reads " + std::string(k_inventory_api_version));
    }
    if (const auto kind = map.string("kind"); kind != k_inventory_kind) {
      map.fail(map.required("kind"), "kind is '" + kind + "'; an inventory is kind " + std::string(k_inventory_kind) +
                                         " (a profile is given with -f)");
    }
    Settings defaults;
    if (map.has("defaults") && !map.optional("defaults").IsNull()) {
      YamlMap section(map.required("defaults"), file_name, "defaults");
      section.allow_only({"profile", "port", "tls", "credentials", "tags"});
      read_settings(section, file, defaults);
    }
    if (map.has("rollout") && !map.optional("rollout").IsNull()) {
      inventory.rollout = read_rollout(map.required("rollout"), file_name);
    }
    const auto meters = map.required("meters");
    if (!meters.IsSequence()) map.fail(meters, "meters must be a list of meters (- name: ...)");
    if (meters.size() > k_max_inventory_meters) {
      map.fail(meters, "more than " + std::to_string(k_max_inventory_meters) + " meters; split the inventory");
    }
    std::map<std::string, std::string> seen;  // name -> location
    for (const auto& item : meters) {
      YamlMap entry(item, file_name, "meter");
      entry.allow_only({"name", "address", "port", "tls", "tags", "credentials", "profile", "overrides"});
      InventoryMeter meter;
      meter.location = location_of(item, file_name);
      meter.name = entry.string("name");
      if (!valid_meter_name(meter.name)) {
        entry.fail(entry.required("name"),
                   "meter name '" + meter.name + "' must be 1 to 64 characters of letters, digits, '.', '_' and '-'");
      }
      if (const auto [previous, inserted] = seen.emplace(meter.name, meter.location); !inserted) {
        entry.fail(entry.required("name"), "meter '" + meter.name + "' is already listed at " + previous->second);
      }
      meter.address = entry.string("address");
      if (!valid_address(meter.address)) {
        entry.fail(entry.required("address"),
                   "address '" + meter.address + "' is not a host name or an IP address (give the port with port:)");
      }
      Settings own;
      read_settings(entry, file, own);
      meter.tls = own.tls.value_or(defaults.tls.value_or(true));
      meter.port =
          own.port.value_or(defaults.port.value_or(meter.tls ? k_inventory_secure_port : k_inventory_plain_port));
      meter.tags = defaults.tags;
      for (auto& [key, value] : own.tags) meter.tags[key] = std::move(value);
      if (meter.tags.size() > k_max_tags) entry.fail(item, "more than " + std::to_string(k_max_tags) + " tags");
      if (own.credentials)
        meter.credentials = std::move(*own.credentials);
      else if (defaults.credentials)
        meter.credentials = *defaults.credentials;
      meter.profile = own.profile ? own.profile : defaults.profile;
      if (entry.has("overrides") && !entry.optional("overrides").IsNull()) {
        meter.overrides = read_overrides(entry.required("overrides"), yaml_text, file, meter.name);
      }
      inventory.meters.push_back(std::move(meter));
    }
  } catch (const proto::model::YamlFieldError& error) {
    return proto::unexpected(to_message(error.error));
  } catch (const YAML::Exception& error) {
    return proto::unexpected(file_name + ": " + error.msg);
  }
  return inventory;
}

proto::Result<Selector, std::string> parse_selector(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == text.size()) {
    return proto::unexpected("--select '" + std::string(text) + "' is not KEY=VALUE (name=PATTERN or TAG=VALUE)");
  }
  Selector selector{std::string(text.substr(0, equals)), std::string(text.substr(equals + 1))};
  if (!valid_tag_key(selector.key)) {
    return proto::unexpected("--select '" + std::string(text) + "': '" + selector.key + "' is not a tag name");
  }
  return selector;
}

bool matches(const InventoryMeter& meter, const std::vector<Selector>& selectors) {
  return std::all_of(selectors.begin(), selectors.end(), [&meter](const Selector& selector) {
    const std::string* value = &meter.name;
    if (selector.key != "name") {
      const auto tag = meter.tags.find(selector.key);
      if (tag == meter.tags.end()) return false;
      value = &tag->second;
    }
    return ::fnmatch(selector.pattern.c_str(), value->c_str(), 0) == 0;
  });
}

std::string to_string(const Shard& shard) { return std::to_string(shard.index) + "/" + std::to_string(shard.count); }

namespace {

std::optional<unsigned> parse_unsigned(std::string_view text) {
  unsigned value = 0;
  if (text.empty()) return std::nullopt;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

proto::Result<Shard, std::string> parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  const auto index = slash == std::string_view::npos ? std::nullopt : parse_unsigned(text.substr(0, slash));
  const auto count = slash == std::string_view::npos ? std::nullopt : parse_unsigned(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *count > k_max_shards || *index == 0 || *index > *count) {
    return proto::unexpected("--shard '" + std::string(text) +
                             "' is not K/N with 1 <= K <= N <= " + std::to_string(k_max_shards));
  }
  return Shard{*index, *count};
}

std::uint64_t fnv1a_64(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

bool in_shard(std::string_view meter_name, const Shard& shard) {
  return shard.count != 0 && fnv1a_64(meter_name) % shard.count == shard.index - 1;
}

EnvironmentLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
}

proto::Result<std::optional<Shard>, std::string> resolve_shard(const std::optional<std::string>& shard_option,
                                                               std::optional<unsigned> shard_count,
                                                               const EnvironmentLookup& environment) {
  if (shard_option) {
    if (shard_count) {
      return proto::unexpected(std::string("--shard K/N and --shard-count exclude each other: --shard gives N"));
    }
    auto shard = parse_shard(*shard_option);
    if (!shard) return proto::unexpected(shard.error());
    return std::optional<Shard>(*shard);
  }
  if (shard_count && (*shard_count == 0 || *shard_count > k_max_shards)) {
    return proto::unexpected("--shard-count must be 1 to " + std::to_string(k_max_shards));
  }
  // GitLab sets CI_NODE_TOTAL (1) in every job, CI_NODE_INDEX only in `parallel:` ones.
  const auto node_index = environment("CI_NODE_INDEX");
  if (node_index) {
    const auto node_total = environment("CI_NODE_TOTAL");
    const auto index = parse_unsigned(*node_index);
    const auto total = node_total ? parse_unsigned(*node_total) : std::nullopt;
    if (!total || *total == 0 || *total > k_max_shards) {
      return proto::unexpected("CI_NODE_INDEX is set but CI_NODE_TOTAL is " +
                               (node_total ? "'" + *node_total + "'" : std::string("unset")) +
                               "; give --shard K/N to choose the shard");
    }
    if (!index || *index == 0 || *index > *total) {
      return proto::unexpected("CI_NODE_INDEX '" + *node_index + "' is not 1 to CI_NODE_TOTAL (" +
                               std::to_string(*total) + ")");
    }
    if (shard_count && *shard_count != *total) {
      return proto::unexpected("--shard-count " + std::to_string(*shard_count) + " differs from CI_NODE_TOTAL " +
                               std::to_string(*total) + "; leave --shard-count out in a GitLab parallel job");
    }
    return std::optional<Shard>(Shard{*index, *total});
  }
  const auto completion_index = environment("JOB_COMPLETION_INDEX");
  if (!completion_index) {
    if (shard_count) {
      return proto::unexpected(std::string(
          "--shard-count needs JOB_COMPLETION_INDEX (set in a Kubernetes indexed Job); elsewhere give --shard K/N"));
    }
    return std::optional<Shard>();
  }
  // Without N every pod of the Job would work on the whole fleet: refuse rather than guess.
  if (!shard_count) {
    return proto::unexpected(std::string(
        "JOB_COMPLETION_INDEX is set: give --shard-count N (the Job's completions), or --shard 1/1 for every meter"));
  }
  const auto index = parse_unsigned(*completion_index);
  if (!index || *index >= *shard_count) {
    return proto::unexpected("JOB_COMPLETION_INDEX '" + *completion_index + "' is not 0 to " +
                             std::to_string(*shard_count - 1) + " (--shard-count " + std::to_string(*shard_count) +
                             ")");
  }
  return std::optional<Shard>(Shard{*index + 1, *shard_count});
}

std::vector<InventoryMeter> select_meters(const Inventory& inventory, const std::vector<Selector>& selectors,
                                          const std::optional<Shard>& shard) {
  std::vector<InventoryMeter> selected;
  for (const auto& meter : inventory.meters) {
    if (!matches(meter, selectors)) continue;
    if (shard && !in_shard(meter.name, *shard)) continue;
    selected.push_back(meter);
  }
  return selected;
}

}  // namespace cli
