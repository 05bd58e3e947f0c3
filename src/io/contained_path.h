// File names read from files (a sharded checkpoint's weight_map, a checkpoint manifest, a token dataset's shard
// list) name files inside the folder of the file that lists them, and must never reach outside it: a damaged or
// crafted listing would otherwise make stepwise open any file on the machine (`"../../etc/passwd"`).
#pragma once

#include <string>

namespace stepwise {

// The path of `name` inside `dir`, where `listing` (the file read, e.g. dir/model.safetensors.index.json) names it
// in `entry` (e.g. "weight_map entry for tensor 'lm_head.weight'"). INVALID_ARGUMENT naming the listing, the entry
// and what to do when the name is empty, absolute, holds a NUL or a ".." component, or (when the file exists)
// resolves through symbolic links to a file outside `dir`. One layout is let through: the Hugging Face hub cache,
// whose snapshots/<revision>/ folders hold links to files in the repository's ../../blobs/.
// A name that does not exist yet is returned as is: the caller reports it missing.
std::string contained_path(const std::string& dir, const std::string& name, const std::string& listing,
                           const std::string& entry);

}  // namespace stepwise
