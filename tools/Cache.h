#pragma once
/// `kiln cache list|clear|prune`: what the cache folder holds and what can go.
///
///   kiln cache list [--cache-dir DIR] [--json]   # every entry: kind, size, model, shapes, state
///   kiln cache prune [--dry-run] [--keep-other-builds]
///                                                # delete what this Kiln can never load again
///   kiln cache clear [--all]                     # delete every entry (--all: tuning.json too)
#include <string>

namespace CLI {
class App;
}

namespace kiln {

struct CacheArgs {
  std::string action; ///< list, clear, prune
  std::string cache_dir;
  bool json = false;
  bool dry_run = false;
  bool keep_other_builds = false;
  bool all = false;
};

/// Registers `cache` with its list/clear/prune subcommands.
CLI::App *add_cache_command(CLI::App &app, CacheArgs &a);

/// Runs the action; returns the exit status. Throws kiln::Error for a folder it cannot read.
int cmd_cache(const CacheArgs &a);

} // namespace kiln
