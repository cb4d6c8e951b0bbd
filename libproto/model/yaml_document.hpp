#pragma once
// Strict, bounded YAML reading for every YAML file the project accepts (device models,
// scenarios, later profiles). Every error names file:line:column and what to do.

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "libproto/result.hpp"

namespace proto::model {

// A YAML document is configuration, never bulk data: anything larger is a mistake.
inline constexpr std::size_t k_max_yaml_bytes = 1024 * 1024;
// yaml-cpp parses nested flow collections recursively; bound the depth before it sees them.
inline constexpr int k_max_yaml_flow_depth = 32;

struct YamlError {
  std::string file;
  int line = 0;    // one-based; 0 when the error concerns the whole file
  int column = 0;  // one-based
  std::string message;

  std::string to_string() const;  // "file:line:col: message"
};

Result<YAML::Node, YamlError> parse_yaml(std::string_view text, std::string_view file_name);
Result<YAML::Node, YamlError> load_yaml_file(const std::filesystem::path& path);

// Thrown only inside loaders built on YamlMap and turned into a Result at their boundary.
struct YamlFieldError {
  YamlError error;
};

[[noreturn]] void fail_at(const YAML::Node& node, std::string_view file, std::string message);

// A mapping node read strictly: unknown keys, missing keys, wrong types and values out
// of range are errors located at the offending node.
class YamlMap {
 public:
  YamlMap(const YAML::Node& node, std::string_view file, std::string context);

  void allow_only(std::initializer_list<std::string_view> keys) const;
  bool has(std::string_view key) const;
  YAML::Node required(std::string_view key) const;
  YAML::Node optional(std::string_view key) const;

  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string fallback) const;
  double number(std::string_view key, double min, double max) const;
  double number_or(std::string_view key, double fallback, double min, double max) const;
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) const;
  bool boolean_or(std::string_view key, bool fallback) const;

  const YAML::Node& node() const { return node_; }
  std::string_view file() const { return file_; }
  [[noreturn]] void fail(const YAML::Node& at, std::string message) const;

 private:
  YAML::Node node_;
  std::string file_;
  std::string context_;
};

// Scalar readers for list items and other nodes outside a mapping.
std::string scalar_string(const YAML::Node& node, std::string_view file, std::string_view what);
double scalar_number(const YAML::Node& node, std::string_view file, std::string_view what,
                     double min, double max);

}  // namespace proto::model
