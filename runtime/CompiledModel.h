#pragma once
/// Inside kiln::CompiledModel (kiln/kiln.h): what every request of a compiled model shares.
/// Built by CompiledModel::open (Session.cpp: a Session compiles or loads the schedule, the
/// model keeps it) and read by CompiledModel.cpp; immutable once built.
#include "runtime/CompiledSchedule.h"
#include "runtime/Hash.h"
#include "runtime/ThreadPool.h"

#include <kiln/kiln.h>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

// Hidden: the nested class would otherwise share CompiledModel's exported visibility.
struct __attribute__((visibility("hidden"))) CompiledModel::Impl {
  std::vector<TensorInfo> inputs, outputs;
  Metadata metadata;
  std::shared_ptr<const CompiledSchedule> schedule;
  Digest key{};
  std::string manifest;             ///< as stored in the .kiln file
  std::shared_ptr<ThreadPool> pool; ///< the process's pool of options.threads
  SessionStats stats;               ///< of the compile or load
  bool profile = false;             ///< SessionOptions::profile: requests time their launches
};

} // namespace kiln
