#pragma once
/// The conv tuning database: the tiles `kiln tune` measured per conv layer shape, one section
/// per machine (the backend's target key and the CPU model name), in one JSON file that every
/// compile on that machine reads (default: tuning.json in the cache folder).
///
///   TuningDb db = TuningDb::load(path);                      // missing file: empty
///   const TuningSection *s = db.find(backend.target_key(), cpu_model_name());
///   ConvTuning t = s ? conv_tuning_of(*s) : ConvTuning{};    // LowerOptions::conv_tuning
///
/// The file:
///   {"format": "kiln-conv-tuning", "version": 1, "sections": [
///     {"target": "x86_64-.../+avx512f,...", "cpu": "Intel(R) Xeon(R) ...", "convs": {
///       "f32 n=1 c=64 h=80 ...": {"tiles": "ocb=8 nv=2 ...", "ms": 0.21, "default_ms": 0.24}}}]}
#include "passes/ConvTuning.h"

#include <map>
#include <string>
#include <utility>

namespace kiln {

/// What tuning measured for one conv layer shape.
struct TuningRecord {
  ConvTiles tiles;       ///< what compiles use: the winner, or the cost model's tile
  double ms = 0;         ///< the kernel with `tiles`: best of its timed runs
  double default_ms = 0; ///< the kernel with the cost model's tile
};

/// One machine's records by conv_tuning_key.
using TuningSection = std::map<std::string, TuningRecord>;

class TuningDb {
public:
  /// Reads `path`; a missing file is an empty database. Throws kiln::Error "tuning database
  /// PATH is corrupt (...)" for one that is not such a file.
  static TuningDb load(const std::string &path);
  /// Writes the whole database to `path` atomically. Throws kiln::Error naming the path.
  void save(const std::string &path) const;
  /// The section of a machine, created empty when absent.
  TuningSection &section(const std::string &target, const std::string &cpu);
  /// The section of a machine, or null.
  const TuningSection *find(const std::string &target, const std::string &cpu) const;

private:
  std::map<std::pair<std::string, std::string>, TuningSection> sections_;
};

/// The tiles of a section, as lowering reads them.
ConvTuning conv_tuning_of(const TuningSection &s);

/// The CPU's model name ("model name" in /proc/cpuinfo), or "unknown cpu".
const std::string &cpu_model_name();

/// The database file a session reads: `tuning_db` when given, else tuning.json in
/// `cache_dir`, else in default_cache_dir(); "" when there is none (no cache folder at all).
std::string tuning_db_path(const std::string &tuning_db, const std::string &cache_dir);

} // namespace kiln
