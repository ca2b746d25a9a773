#pragma once
/// What a cache folder holds, for `kiln cache list|clear|prune`: every file Kiln writes there
/// (schedules `<key>.kiln`, model indexes `<key>.model.json`, the tuning database, temporaries
/// a killed process left behind), each with whether this Kiln can still reach it.
///
/// A session finds a schedule by a key that covers the model's bytes and the compiler's build
/// (runtime/Session.cpp), so after a rebuild of Kiln, or a re-export of the model, the old
/// entries stay on disk but nothing will ever load them again: they are "unreachable", and
/// `prune` deletes exactly those.
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct CacheEntry {
  enum class Kind { schedule, index, tuning, temporary, other };
  std::string file; ///< path
  Kind kind = Kind::other;
  int64_t bytes = 0;
  int64_t mtime = 0;     ///< seconds since the epoch
  std::string model;     ///< the model the entry was made from ("" when unknown)
  std::string target;    ///< schedules: the target key's architecture part
  std::string precision; ///< schedules
  std::string pipeline;  ///< schedules
  std::string inputs;    ///< schedules and indexes: "images=f32[1x3x640x640]"
  bool reachable = true; ///< this Kiln may load it again
  std::string why;       ///< when unreachable: "another Kiln build", "model changed", ...
};

const char *cache_entry_kind_name(CacheEntry::Kind k);

/// Every file in `dir` (not recursive), sorted by name. Reading a schedule maps it and checks
/// its checksums; a model file is hashed once per path. Throws kiln::Error when `dir` cannot
/// be listed.
std::vector<CacheEntry> scan_cache_folder(const std::string &dir);

} // namespace kiln
