// `kiln cache list|clear|prune` (tools/Cache.h) over runtime/CacheFolder.h's view of a folder.
#include "tools/Cache.h"

#include "ir/Error.h"
#include "runtime/CacheFile.h"
#include "runtime/CacheFolder.h"
#include "tools/Console.h"

#include <CLI/CLI.hpp>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace kiln {

namespace {

std::string mib(int64_t bytes) { return fmt::format("{:.1f}", bytes / 1048576.0); }

std::string date_str(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string state_str(const CacheEntry &e) { return e.reachable ? "ok" : "unreachable: " + e.why; }

nlohmann::json entry_json(const CacheEntry &e) {
  nlohmann::json j = {{"file", fs::path(e.file).filename().string()},
                      {"kind", cache_entry_kind_name(e.kind)},
                      {"bytes", e.bytes},
                      {"mtime", e.mtime},
                      {"reachable", e.reachable}};
  for (auto [key, value] : {std::pair{"model", &e.model},
                            {"target", &e.target},
                            {"precision", &e.precision},
                            {"pipeline", &e.pipeline},
                            {"inputs", &e.inputs},
                            {"why", &e.why}})
    if (!value->empty())
      j[key] = *value;
  return j;
}

void print_list(const std::string &dir, const std::vector<CacheEntry> &entries) {
  std::vector<std::string> head = {"kind",   "MiB",       "modified", "model",
                                   "inputs", "precision", "state"};
  std::vector<std::vector<std::string>> cells;
  int64_t total = 0, unreachable = 0;
  for (const CacheEntry &e : entries) {
    total += e.bytes;
    unreachable += e.reachable ? 0 : e.bytes;
    cells.push_back({cache_entry_kind_name(e.kind), mib(e.bytes), date_str(e.mtime),
                     e.model.empty() ? "-" : fs::path(e.model).filename().string(),
                     e.inputs.empty() ? "-" : e.inputs, e.precision.empty() ? "-" : e.precision,
                     state_str(e)});
  }
  fmt::print("{}: {} files, {} MiB ({} MiB unreachable: 'kiln cache prune' deletes them)\n", dir,
             entries.size(), mib(total), mib(unreachable));
  if (entries.empty())
    return;
  const std::vector<size_t> w = column_widths(head, cells);
  auto line = [&](const std::vector<std::string> &v) {
    std::string s;
    for (size_t c = 0; c < v.size(); ++c)
      s += c == 1 ? fmt::format("{:>{}}  ", v[c], w[c]) : fmt::format("{:<{}}  ", v[c], w[c]);
    fmt::print("{}\n", s.substr(0, s.find_last_not_of(' ') + 1));
  };
  line(head);
  for (const auto &row : cells)
    line(row);
}

/// Deletes `entries` that `doomed` picks; prints what it does (or would do).
int remove_entries(const std::vector<CacheEntry> &entries, bool dry_run,
                   const std::function<bool(const CacheEntry &)> &doomed, bool json) {
  int64_t freed = 0;
  int n = 0, failed = 0;
  nlohmann::json removed = nlohmann::json::array();
  for (const CacheEntry &e : entries) {
    if (!doomed(e))
      continue;
    std::error_code ec;
    if (!dry_run && !fs::remove(e.file, ec) && ec) {
      fmt::print(stderr, "kiln: cannot delete {}: {}\n", e.file, ec.message());
      ++failed;
      continue;
    }
    ++n;
    freed += e.bytes;
    removed.push_back(entry_json(e));
    if (!json)
      fmt::print("{} {} ({} MiB{}{})\n", dry_run ? "would delete" : "deleted",
                 fs::path(e.file).filename().string(), mib(e.bytes), e.why.empty() ? "" : ", ",
                 e.why);
  }
  if (json)
    std::cout << nlohmann::json{{"dry_run", dry_run},
                                {"deleted", removed},
                                {"files", n},
                                {"bytes", freed}}
                     .dump(2)
              << "\n";
  else
    fmt::print("{} {} files, {} MiB\n", dry_run ? "would free" : "freed", n, mib(freed));
  return failed ? 1 : 0;
}

} // namespace

CLI::App *add_cache_command(CLI::App &app, CacheArgs &a) {
  auto *c = app.add_subcommand("cache", "list, prune or clear the cache folder");
  c->require_subcommand(1);
  auto common = [&](CLI::App *s) {
    s->add_option("--cache-dir", a.cache_dir,
                  "cache folder (default $KILN_CACHE_DIR or ~/.cache/kiln)");
    s->add_flag("--json", a.json, "print JSON");
    s->callback([&a, s] { a.action = s->get_name(); });
  };
  common(c->add_subcommand("list", "every entry: kind, size, model, inputs, whether it is "
                                   "reachable"));
  auto *prune = c->add_subcommand(
      "prune", "delete what this Kiln can never load again (another build, a changed or "
               "deleted model, damaged files, stale temporaries)");
  common(prune);
  prune->add_flag("--dry-run", a.dry_run, "only say what would be deleted");
  prune->add_flag("--keep-other-builds", a.keep_other_builds,
                  "keep entries another Kiln build (e.g. the Python module) may still load");
  auto *clear = c->add_subcommand("clear", "delete every entry Kiln wrote");
  common(clear);
  clear->add_flag("--dry-run", a.dry_run, "only say what would be deleted");
  clear->add_flag("--all", a.all, "also delete the tuning database (tuning.json)");
  return c;
}

int cmd_cache(const CacheArgs &a) {
  std::string dir = a.cache_dir.empty() ? default_cache_dir() : a.cache_dir;
  if (dir.empty())
    throw Error("no cache folder: set --cache-dir, $KILN_CACHE_DIR or $HOME");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec))
      throw Error("--cache-dir " + dir + ": not a folder");
    // Nothing cached yet: an empty list, nothing to delete.
    if (a.json)
      std::cout << (a.action == "list" ? nlohmann::json::array()
                                       : nlohmann::json{{"dry_run", a.dry_run},
                                                        {"deleted", nlohmann::json::array()},
                                                        {"files", 0},
                                                        {"bytes", 0}})
                       .dump(2)
                << "\n";
    else
      fmt::print("{}: no cache folder yet\n", dir);
    return 0;
  }
  std::vector<CacheEntry> entries = scan_cache_folder(dir);
  if (a.action == "list") {
    if (a.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const CacheEntry &e : entries)
        j.push_back(entry_json(e));
      std::cout << j.dump(2) << "\n";
    } else {
      print_list(dir, entries);
    }
    return 0;
  }
  if (a.action == "prune")
    return remove_entries(
        entries, a.dry_run,
        [&](const CacheEntry &e) {
          return !e.reachable &&
                 !(a.keep_other_builds && e.why.rfind("another Kiln build", 0) == 0);
        },
        a.json);
  // clear: everything Kiln writes; files it does not know stay.
  return remove_entries(
      entries, a.dry_run,
      [&](const CacheEntry &e) {
        return e.kind == CacheEntry::Kind::schedule || e.kind == CacheEntry::Kind::index ||
               e.kind == CacheEntry::Kind::temporary ||
               (a.all && e.kind == CacheEntry::Kind::tuning);
      },
      a.json);
}

} // namespace kiln
