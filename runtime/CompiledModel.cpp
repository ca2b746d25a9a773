// kiln::CompiledModel and kiln::InferRequest: one compiled schedule shared by many threads,
// each thread with its own RunState. CompiledModel::open is in Session.cpp (a Session compiles).
#include "runtime/CompiledModel.h"

#include "runtime/Binding.h"
#include "runtime/CacheFile.h"
#include "runtime/RunState.h"

#include <mutex>

namespace kiln {

struct __attribute__((visibility("hidden"))) InferRequest::Impl {
  explicit Impl(std::shared_ptr<const CompiledModel::Impl> m)
      : model(std::move(m)), state(*model->schedule) {}

  std::shared_ptr<const CompiledModel::Impl> model; ///< keeps the schedule alive
  RunState state;
  std::mutex busy;
  // Per-run scratch, sized on the first run so that later runs allocate nothing.
  std::vector<const HostTensor *> found;
  std::vector<const void *> in_ptrs;
  std::vector<void *> out_ptrs;
  LaunchTimes times; ///< SessionOptions::profile

  Status run(const std::vector<NamedTensor> &in, std::vector<NamedTensor> &out);
};

Status InferRequest::Impl::run(const std::vector<NamedTensor> &in, std::vector<NamedTensor> &out) {
  const CompiledModel::Impl &m = *model;
  if (Status st = match_inputs(m.inputs, in, found); !st)
    return st;
  in_ptrs.resize(m.inputs.size());
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const HostTensor &t = *found[i];
    const TensorInfo &info = m.inputs[i];
    if (t.type() != info.type || t.shape() != info.shape)
      return Status::failure("input '" + info.name + "' is " + type_str(t.type(), t.shape()) +
                             " but the model was compiled for " + type_str(info.type, info.shape));
    in_ptrs[i] = t.data();
  }
  bind_outputs(m.outputs, out, out_ptrs);
  if (m.profile)
    times.begin_run(m.schedule->desc().launches.size());
  state.run(*m.pool, in_ptrs.data(), out_ptrs.data(), m.profile ? &times : nullptr);
  return Status();
}

// ---- CompiledModel ----

CompiledModel::CompiledModel(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

const std::vector<TensorInfo> &CompiledModel::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo> &CompiledModel::outputs() const { return impl_->outputs; }
const Metadata &CompiledModel::metadata() const { return impl_->metadata; }

Result<InferRequest> CompiledModel::create_request() const {
  std::unique_ptr<InferRequest::Impl> r;
  Status st = guarded([&] {
    r = std::make_unique<InferRequest::Impl>(impl_);
    return Status();
  });
  if (!st)
    return st;
  return InferRequest(std::move(r));
}

Status CompiledModel::save(const std::string &kiln_path) const {
  return guarded([&] {
    write_cache_file(kiln_path, impl_->key, impl_->manifest, impl_->schedule->object(),
                     impl_->schedule->weights());
    return Status();
  });
}

SessionStats CompiledModel::stats() const { return impl_->stats; }

// ---- InferRequest ----

InferRequest::InferRequest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InferRequest::InferRequest(InferRequest &&) noexcept = default;
InferRequest &InferRequest::operator=(InferRequest &&) noexcept = default;
InferRequest::~InferRequest() = default;

const std::vector<TensorInfo> &InferRequest::inputs() const { return impl_->model->inputs; }
const std::vector<TensorInfo> &InferRequest::outputs() const { return impl_->model->outputs; }

Status InferRequest::run(const std::vector<NamedTensor> &inputs,
                         std::vector<NamedTensor> &outputs) {
  std::unique_lock lock(impl_->busy, std::try_to_lock);
  if (!lock.owns_lock())
    return Status::failure("this request is running in another thread; use one request per "
                           "thread");
  return guarded([&] { return impl_->run(inputs, outputs); });
}

Result<std::vector<NamedTensor>> InferRequest::run(const std::vector<NamedTensor> &inputs) {
  std::vector<NamedTensor> out;
  Status st = run(inputs, out);
  if (!st)
    return st;
  return out;
}

std::vector<LaunchProfile> InferRequest::profile() const {
  return impl_->times.profile(impl_->model->schedule->desc());
}

} // namespace kiln
