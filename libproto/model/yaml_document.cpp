#include "libproto/model/yaml_document.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

namespace proto::model {

std::string YamlError::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ':' << line << ':' << column;
  out << ": " << message;
  return out.str();
}

namespace {

// Finds the deepest nesting of flow collections, skipping quoted text and comments.
// Returns the offset where the limit is first exceeded, or npos.
std::size_t find_excessive_flow_depth(std::string_view text) {
  int depth = 0;
  char quote = 0;
  bool in_comment = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_comment) {
      if (c == '\n') in_comment = false;
      continue;
    }
    if (quote != 0) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"') ++i;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    else if (c == '#') in_comment = true;
    else if (c == '[' || c == '{') {
      if (++depth > k_max_yaml_flow_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return std::string_view::npos;
}

YamlError error_at_offset(std::string_view text, std::size_t offset, std::string_view file,
                          std::string message) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {std::string(file), line, column, std::move(message)};
}

}  // namespace

Result<YAML::Node, YamlError> parse_yaml(std::string_view text, std::string_view file_name) {
  if (text.size() > k_max_yaml_bytes) {
    return unexpected(YamlError{std::string(file_name), 0, 0,
                                "file is " + std::to_string(text.size()) + " bytes, more than the " +
                                    std::to_string(k_max_yaml_bytes) +
                                    " a YAML document may have; split it or remove bulk data"});
  }
  if (text.find('\0') != std::string_view::npos) {
    return unexpected(error_at_offset(text, text.find('\0'), file_name,
                                      "NUL byte in YAML text; is this a binary file?"));
  }
  if (const auto offset = find_excessive_flow_depth(text); offset != std::string_view::npos) {
    return unexpected(error_at_offset(
        text, offset, file_name,
        "flow collections nested deeper than " + std::to_string(k_max_yaml_flow_depth) + " levels"));
  }
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return unexpected(YamlError{std::string(file_name), e.mark.line + 1, e.mark.column + 1, e.msg});
  }
}

Result<YAML::Node, YamlError> load_yaml_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unexpected(YamlError{path.string(), 0, 0, "cannot open file; check the path and permissions"});
  }
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > k_max_yaml_bytes) break;
  }
  return parse_yaml(text, path.string());
}

void fail_at(const YAML::Node& node, std::string_view file, std::string message) {
  const auto mark = node.Mark();
  const bool known = mark.line >= 0 && !node.IsNull();
  throw YamlFieldError{YamlError{std::string(file), known ? mark.line + 1 : 0, known ? mark.column + 1 : 0,
                                 std::move(message)}};
}

YamlMap::YamlMap(const YAML::Node& node, std::string_view file, std::string context)
    : node_(node), file_(file), context_(std::move(context)) {
  if (!node_.IsMap()) fail(node_, context_ + " must be a mapping of key: value");
}

void YamlMap::fail(const YAML::Node& at, std::string message) const {
  const YAML::Node& where = at.IsDefined() && at.Mark().line >= 0 ? at : node_;
  const auto mark = where.Mark();
  throw YamlFieldError{YamlError{file_, mark.line >= 0 ? mark.line + 1 : 0, mark.line >= 0 ? mark.column + 1 : 0,
                                 std::move(message)}};
}

void YamlMap::allow_only(std::initializer_list<std::string_view> keys) const {
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) fail(entry.first, context_ + ": keys must be plain words");
    const auto& key = entry.first.Scalar();
    bool known = false;
    for (const auto allowed : keys) known = known || key == allowed;
    if (!known) {
      std::string list;
      for (const auto allowed : keys) list += (list.empty() ? "" : ", ") + std::string(allowed);
      fail(entry.first, "unknown key '" + key + "' in " + context_ + "; expected one of: " + list);
    }
  }
}

bool YamlMap::has(std::string_view key) const { return node_[std::string(key)].IsDefined(); }

YAML::Node YamlMap::required(std::string_view key) const {
  auto child = node_[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) {
    fail(node_, context_ + " lacks the required key '" + std::string(key) + "'");
  }
  return child;
}

YAML::Node YamlMap::optional(std::string_view key) const { return node_[std::string(key)]; }

std::string YamlMap::string(std::string_view key) const {
  return scalar_string(required(key), file_, context_ + "." + std::string(key));
}

std::string YamlMap::string_or(std::string_view key, std::string fallback) const {
  auto child = optional(key);
  if (!child.IsDefined() || child.IsNull()) return fallback;
  return scalar_string(child, file_, context_ + "." + std::string(key));
}

double YamlMap::number(std::string_view key, double min, double max) const {
  return scalar_number(required(key), file_, context_ + "." + std::string(key), min, max);
}

double YamlMap::number_or(std::string_view key, double fallback, double min, double max) const {
  auto child = optional(key);
  if (!child.IsDefined() || child.IsNull()) return fallback;
  return scalar_number(child, file_, context_ + "." + std::string(key), min, max);
}

std::int64_t YamlMap::integer(std::string_view key, std::int64_t min, std::int64_t max) const {
  const auto child = required(key);
  const double value = scalar_number(child, file_, context_ + "." + std::string(key),
                                     static_cast<double>(min), static_cast<double>(max));
  if (value != std::floor(value)) fail(child, context_ + "." + std::string(key) + " must be a whole number");
  return static_cast<std::int64_t>(value);
}

std::int64_t YamlMap::integer_or(std::string_view key, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) const {
  auto child = optional(key);
  if (!child.IsDefined() || child.IsNull()) return fallback;
  return integer(key, min, max);
}

bool YamlMap::boolean_or(std::string_view key, bool fallback) const {
  auto child = optional(key);
  if (!child.IsDefined() || child.IsNull()) return fallback;
  const auto text = scalar_string(child, file_, context_ + "." + std::string(key));
  if (text == "true") return true;
  if (text == "false") return false;
  fail(child, context_ + "." + std::string(key) + " must be true or false, not '" + text + "'");
}

std::string scalar_string(const YAML::Node& node, std::string_view file, std::string_view what) {
  if (!node.IsScalar()) fail_at(node, file, std::string(what) + " must be a single value, not a list or mapping");
  return node.Scalar();
}

double scalar_number(const YAML::Node& node, std::string_view file, std::string_view what, double min,
                     double max) {
  const auto text = scalar_string(node, file, what);
  double value = 0.0;
  std::size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value)) {
    fail_at(node, file, std::string(what) + " must be a number, not '" + text + "'");
  }
  if (value < min || value > max) {
    std::ostringstream range;
    range << what << " is " << text << "; it must lie between " << min << " and " << max;
    fail_at(node, file, range.str());
  }
  return value;
}

}  // namespace proto::model
