#include "firmware/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace meterd::log {

namespace {

Level g_minimum_level = Level::info;
std::mutex g_write_mutex;

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "info";
}

void append_value(std::string& line, std::string_view value) {
  const bool needs_quotes = value.empty() || value.find_first_of(" \"=\t") != std::string_view::npos;
  if (!needs_quotes) {
    line += value;
    return;
  }
  line += '"';
  for (const char c : value) {
    if (c == '"' || c == '\\') line += '\\';
    if (c == '\n') {
      line += "\\n";
      continue;
    }
    line += c;
  }
  line += '"';
}

}  // namespace

void set_minimum_level(Level level) { g_minimum_level = level; }

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  if (level < g_minimum_level) return;
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  std::string line = stamp;
  line += " level=";
  line += level_name(level);
  line += " event=";
  line += name;
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    append_value(line, value);
  }
  line += '\n';
  std::lock_guard lock(g_write_mutex);
  std::fputs(line.c_str(), stderr);
}

}  // namespace meterd::log
