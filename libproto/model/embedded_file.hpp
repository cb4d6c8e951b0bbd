#pragma once
#include <span>
#include <string_view>

namespace proto::model {

// A file compiled into the binary (see scripts/cmake/EmbedFiles.cmake).
struct EmbeddedFile {
  std::string_view name;
  std::string_view contents;
};

}  // namespace proto::model
