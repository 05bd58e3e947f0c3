// contained_path: lexical checks on a listed file name, then the resolved path against the folder's.
#include "io/contained_path.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/status.h"

namespace stepwise {

namespace fs = std::filesystem;

namespace {

bool is_inside(const fs::path& path, const fs::path& folder) {
  const auto [end, _] = std::mismatch(folder.begin(), folder.end(), path.begin(), path.end());
  return end == folder.end() && path != folder;
}

// A link from <repo>/snapshots/<revision>/ into <repo>/blobs/, as huggingface_hub lays out its cache.
bool is_hub_cache_blob(const fs::path& target, const fs::path& folder) {
  return folder.parent_path().filename() == "snapshots" &&
         target.parent_path() == folder.parent_path().parent_path() / "blobs";
}

// The name as messages show it: control bytes (a NUL would cut the message short) as \xNN.
std::string printable(const std::string& name) {
  std::string out;
  for (const char c : name) {
    char escaped[8];
    std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
    out += static_cast<unsigned char>(c) < 0x20 ? std::string(escaped) : std::string(1, c);
  }
  return out;
}

}  // namespace

std::string contained_path(const std::string& dir, const std::string& name, const std::string& listing,
                           const std::string& entry) {
  const auto refuse = [&](const std::string& why) {
    invalid_argument(listing, ": ", entry, " names '", printable(name), "', ", why,
                     "; file names there must stay inside ", dir, " (fix or regenerate ", listing, ")");
  };
  if (name.empty()) refuse("an empty file name");
  if (name.find('\0') != std::string::npos) refuse("a name holding a NUL byte");
  const fs::path relative(name);
  if (relative.is_absolute()) refuse("an absolute path");
  for (const fs::path& part : relative)
    if (part == "..") refuse("a path with a '..' component");

  const std::string path = dir + "/" + name;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return path;
  const fs::path folder = fs::canonical(dir, ec);
  const fs::path target = ec ? fs::path() : fs::weakly_canonical(path, ec);
  if (ec) invalid_argument(listing, ": ", entry, " names '", name, "', which cannot be resolved: ", ec.message());
  if (!is_inside(target, folder) && !is_hub_cache_blob(target, folder))
    invalid_argument(listing, ": ", entry, " names '", name, "', which resolves (through symbolic links) to ",
                     target.string(), ", outside ", folder.string(), "; if you trust that file, replace the link ",
                     "with a copy of it (cp --remove-destination ", target.string(), " ", path, ")");
  return path;
}

}  // namespace stepwise
