#include "runtime/CacheFolder.h"

#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "runtime/Binding.h"
#include "runtime/CacheFile.h"
#include "runtime/Compiler.h"
#include "runtime/Hash.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace kiln {

namespace {

/// A temporary younger than this may belong to a compile still running.
constexpr int64_t kTemporaryGraceSeconds = 600;

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "images=f32[1x3x640x640],..." from a manifest's or index's "inputs" array.
std::string inputs_str(const nlohmann::json &a) {
  std::string s;
  for (const auto &t : a) {
    std::string shape;
    for (int64_t d : t.at("shape").get<std::vector<int64_t>>())
      shape += (shape.empty() ? "" : "x") + std::to_string(d);
    s += (s.empty() ? "" : ",") + t.at("name").get<std::string>() + "=" +
         t.at("dtype").get<std::string>() + "[" + shape + "]";
  }
  return s;
}

/// The model's hash now, by path (each file read once): "" when it is gone.
class ModelHashes {
public:
  const std::string &of(const std::string &path) {
    auto it = hashes_.find(path);
    if (it != hashes_.end())
      return it->second;
    std::string bytes, h;
    if (!path.empty() && read_whole_file(path, bytes))
      h = digest_hex(hash128(bytes.data(), bytes.size()));
    return hashes_[path] = h;
  }

private:
  std::map<std::string, std::string> hashes_;
};

/// Why the entry made from `model` (hashed `hash` then) by `compiler` is unreachable, or "".
std::string unreachable_why(const std::string &compiler, const std::string &model,
                            const std::string &hash, ModelHashes &models) {
  if (compiler.empty() || model.empty() || hash.empty())
    return "written by an older Kiln";
  if (compiler != compiler_identity())
    return "another Kiln build (" + compiler + ")";
  if (model.starts_with('<')) // "<memory>": opened from bytes, which may come again
    return "";
  const std::string &now = models.of(model);
  if (now.empty())
    return "model deleted";
  if (now != hash)
    return "model changed";
  return "";
}

void read_schedule(CacheEntry &e, ModelHashes &models) {
  std::unique_ptr<CacheFile> f;
  try {
    f = CacheFile::open(e.file, nullptr);
  } catch (const CacheFileError &x) {
    e.reachable = false;
    e.why = x.kind + " (" + x.detail + ")";
    return;
  } catch (const Error &x) {
    e.reachable = false;
    e.why = x.what();
    return;
  }
  try {
    nlohmann::json m = nlohmann::json::parse(f->manifest());
    e.model = m.at("model").value("path", "");
    e.target = m.value("target", "");
    e.target = e.target.substr(0, e.target.find('/', e.target.find('/') + 1)); // "x86_64-.../cpu"
    e.precision = m.value("precision", "f32");
    e.pipeline = m.value("pipeline", "");
    e.inputs = inputs_str(m.at("inputs"));
    e.why = unreachable_why(m.value("compiler", ""), e.model, m.at("model").value("xxh3_128", ""),
                            models);
  } catch (const nlohmann::json::exception &x) {
    e.why = std::string("corrupt (manifest: ") + x.what() + ")";
  }
  e.reachable = e.why.empty();
}

void read_index(CacheEntry &e, ModelHashes &models) {
  try {
    std::ifstream in(e.file);
    nlohmann::json j = nlohmann::json::parse(in);
    e.model = j.value("model", "");
    e.inputs = j.contains("inputs") ? inputs_str(j.at("inputs")) : "";
    e.why =
        unreachable_why(j.value("compiler", ""), e.model, j.value("model_xxh3_128", ""), models);
  } catch (const nlohmann::json::exception &x) {
    e.why = std::string("corrupt (") + x.what() + ")";
  }
  e.reachable = e.why.empty();
}

} // namespace

const char *cache_entry_kind_name(CacheEntry::Kind k) {
  switch (k) {
  case CacheEntry::Kind::schedule: return "schedule";
  case CacheEntry::Kind::index: return "index";
  case CacheEntry::Kind::tuning: return "tuning";
  case CacheEntry::Kind::temporary: return "temporary";
  case CacheEntry::Kind::other: return "other";
  }
  return "other";
}

std::vector<CacheEntry> scan_cache_folder(const std::string &dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    throw Error("cache folder " + dir + ": " + ec.message());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ModelHashes models;
  std::vector<CacheEntry> out;
  for (const fs::directory_entry &d : it) {
    if (!d.is_regular_file(ec))
      continue;
    CacheEntry e;
    e.file = d.path().string();
    e.bytes = static_cast<int64_t>(d.file_size(ec));
    struct stat st {};
    if (::stat(e.file.c_str(), &st) == 0)
      e.mtime = st.st_mtime;
    std::string name = d.path().filename().string();
    if (name.find(".tmp") != std::string::npos) {
      e.kind = CacheEntry::Kind::temporary;
      e.reachable = now - e.mtime < kTemporaryGraceSeconds; // may be a compile still running
      if (!e.reachable)
        e.why = "left by an interrupted write";
    } else if (ends_with(name, ".kiln")) {
      e.kind = CacheEntry::Kind::schedule;
      read_schedule(e, models);
    } else if (ends_with(name, ".model.json")) {
      e.kind = CacheEntry::Kind::index;
      read_index(e, models);
    } else if (name == "tuning.json") {
      e.kind = CacheEntry::Kind::tuning;
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(),
            [](const CacheEntry &a, const CacheEntry &b) { return a.file < b.file; });
  return out;
}

} // namespace kiln
