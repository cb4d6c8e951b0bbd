#include "libsec/profile_loader.hpp"

#include <fstream>

#include "libproto/model/yaml_document.hpp"

namespace sec {

using proto::unexpected;

namespace {

std::string chain_text(const std::vector<std::filesystem::path>& files, const std::filesystem::path& last) {
  std::string text;
  for (const auto& file : files) text += file.string() + " -> ";
  return text + last.string();
}

// Where `profile` names its base: the location of the extends key, else the file.
std::string extends_location(const MeterProfile& profile, const std::filesystem::path& file) {
  auto location = profile.location_of("extends");
  return location.empty() ? file.string() : location;
}

void resolve_password_files(MeterProfile& profile, const std::filesystem::path& file) {
  const auto directory = file.parent_path();
  for (auto& user : profile.security.users) {
    if (!user.password_file) continue;
    const std::filesystem::path named(*user.password_file);
    if (named.is_absolute()) {
      user.password_file = named.lexically_normal().string();
    } else {
      user.password_file = (directory / named).lexically_normal().string();
    }
  }
}

}  // namespace

proto::Result<std::string, std::string> read_profile_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(path.string() + ": cannot open the profile; check the path and permissions");
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > proto::model::k_max_yaml_bytes) {
      return unexpected(path.string() + ": the profile is larger than " +
                        std::to_string(proto::model::k_max_yaml_bytes) +
                        " bytes, the most a YAML document may have; split it with extends or remove bulk data");
    }
  }
  if (in.bad()) return unexpected(path.string() + ": cannot read the profile; check the file and its disk");
  return text;
}

proto::Result<LoadedProfile, std::string> load_profile(const std::filesystem::path& file,
                                                       const ProfileFileReader& reader) {
  // Each profile of the chain with the file it came from, the named file first.
  std::vector<MeterProfile> chain;
  std::vector<std::filesystem::path> files;
  std::filesystem::path next = file.lexically_normal();
  while (true) {
    auto text = reader(next);
    if (!text) {
      if (chain.empty()) return unexpected(text.error());
      return unexpected(extends_location(chain.back(), files.back()) + ": extends names " + next.string() +
                        ", which cannot be read: " + text.error());
    }
    auto profile = parse_meter_profile(*text, next.string());
    if (!profile) return unexpected(profile.error());
    resolve_password_files(*profile, next);
    files.push_back(next);
    chain.push_back(std::move(*profile));
    const auto& current = chain.back();
    if (!current.extends) break;
    const std::filesystem::path named(*current.extends);
    const auto base = (named.is_absolute() ? named : next.parent_path() / named).lexically_normal();
    for (const auto& seen : files) {
      if (seen == base) {
        return unexpected(extends_location(current, next) + ": extends makes a cycle: " + chain_text(files, base) +
                          "; remove one of these extends");
      }
    }
    if (files.size() > static_cast<std::size_t>(k_max_extends_depth)) {
      return unexpected(extends_location(current, next) + ": extends goes deeper than " +
                        std::to_string(k_max_extends_depth) + " bases (" + chain_text(files, base) +
                        "); merge some of the bases");
    }
    next = base;
  }
  LoadedProfile loaded;
  loaded.profile = chain.back();
  for (auto it = chain.rbegin() + 1; it != chain.rend(); ++it) loaded.profile = overlay(loaded.profile, *it);
  loaded.profile.extends.reset();
  loaded.profile.locations.erase("extends");
  loaded.files = std::move(files);
  return loaded;
}

}  // namespace sec
