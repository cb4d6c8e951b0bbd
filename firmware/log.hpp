#pragma once
// Logs go to stderr, one event per line: an RFC 3339 UTC timestamp, a level, an event
// name and key=value fields (values with spaces are quoted), so they grep and parse.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace meterd::log {

enum class Level { debug, info, warning, error };

using Field = std::pair<std::string_view, std::string>;

void set_minimum_level(Level level);
void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void info(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::info, name, fields); }
inline void warning(std::string_view name, std::initializer_list<Field> fields = {}) {
  event(Level::warning, name, fields);
}
inline void error(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::error, name, fields); }
inline void debug(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::debug, name, fields); }

}  // namespace meterd::log
