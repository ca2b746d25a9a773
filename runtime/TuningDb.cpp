// The conv tuning database file (see runtime/TuningDb.h).
#include "runtime/TuningDb.h"

#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "runtime/CacheFile.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fs = std::filesystem;

namespace kiln {

namespace {
constexpr const char *kFormat = "kiln-conv-tuning";
constexpr int kVersion = 1;
} // namespace

TuningDb TuningDb::load(const std::string &path) {
  TuningDb db;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (fs::exists(path))
      throw Error("tuning database " + path + ": cannot read it");
    return db;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto corrupt = [&](const std::string &why) {
    throw Error("tuning database " + path + " is corrupt (" + why +
                "); delete it or run 'kiln tune' again");
  };
  try {
    nlohmann::json j = nlohmann::json::parse(text.str());
    if (!j.is_object() || j.value("format", "") != kFormat)
      corrupt(std::string("not a ") + kFormat + " file");
    if (j.at("version").get<int>() != kVersion)
      corrupt("version " + j.at("version").dump() + ", this is " + std::to_string(kVersion));
    for (const nlohmann::json &s : j.at("sections")) {
      TuningSection &sec =
          db.section(s.at("target").get<std::string>(), s.at("cpu").get<std::string>());
      for (const auto &[key, r] : s.at("convs").items())
        sec[key] = {parse_conv_tiles(r.at("tiles").get<std::string>()), r.at("ms").get<double>(),
                    r.at("default_ms").get<double>()};
    }
  } catch (const nlohmann::json::exception &e) {
    corrupt(e.what());
  } catch (const Error &e) {
    if (std::string_view(e.what()).starts_with("tuning database "))
      throw;
    corrupt(e.what()); // a tiles text that does not parse
  }
  return db;
}

void TuningDb::save(const std::string &path) const {
  nlohmann::json sections = nlohmann::json::array();
  for (const auto &[machine, sec] : sections_) {
    nlohmann::json convs = nlohmann::json::object();
    for (const auto &[key, r] : sec)
      convs[key] = {{"tiles", conv_tiles_str(r.tiles)}, {"ms", r.ms}, {"default_ms", r.default_ms}};
    sections.push_back({{"target", machine.first}, {"cpu", machine.second}, {"convs", convs}});
  }
  nlohmann::json j = {{"format", kFormat}, {"version", kVersion}, {"sections", sections}};
  if (fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
      throw Error("cannot create folder " + parent.string() + ": " + ec.message());
  }
  write_text_file(path, j.dump(1) + "\n");
}

TuningSection &TuningDb::section(const std::string &target, const std::string &cpu) {
  return sections_[{target, cpu}];
}

const TuningSection *TuningDb::find(const std::string &target, const std::string &cpu) const {
  auto it = sections_.find({target, cpu});
  return it == sections_.end() ? nullptr : &it->second;
}

ConvTuning conv_tuning_of(const TuningSection &s) {
  ConvTuning t;
  for (const auto &[key, r] : s)
    t.tiles[key] = r.tiles;
  return t;
}

const std::string &cpu_model_name() {
  static const std::string name = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.starts_with("model name"))
        continue;
      size_t colon = line.find(':');
      if (colon == std::string::npos)
        continue;
      size_t b = line.find_first_not_of(" \t", colon + 1);
      return b == std::string::npos ? std::string("unknown cpu") : line.substr(b);
    }
    return std::string("unknown cpu");
  }();
  return name;
}

std::string tuning_db_path(const std::string &tuning_db, const std::string &cache_dir) {
  if (!tuning_db.empty())
    return tuning_db;
  std::string dir = cache_dir.empty() ? default_cache_dir() : cache_dir;
  return dir.empty() ? "" : (fs::path(dir) / "tuning.json").string();
}

} // namespace kiln
