// The lowering context: the buffer table and launches being built, and the kernel builder.
#include "passes/LowerContext.h"

namespace kiln {

// ---- KernelBuilder ----

int KernelBuilder::param(const Program &p, int buffer_id, bool output) {
  // Parameters take the low buffer ids: all of them come before any local.
  KILN_ASSERT(k_.next_buf == static_cast<int>(k_.params.size()),
              "KernelBuilder: parameters must be added before locals");
  const BufferDecl &b = p.buffers.at(buffer_id);
  k_.params.push_back({b.name, b.dtype, shape_numel(b.shape), output});
  args_.push_back(buffer_id);
  return k_.next_buf++;
}

Kernel KernelBuilder::finish(Stmt body, int64_t parallel_extent) {
  k_.body = std::move(body);
  k_.parallel_extent = parallel_extent;
  return k_;
}

// ---- LowerContext ----

int LowerContext::add_buffer(const std::string &name, DType dtype, Shape shape, bool weight_only) {
  BufferDecl b;
  b.name = name;
  b.dtype = dtype;
  b.shape = std::move(shape);
  b.kind = BufferDecl::Kind::Intermediate;
  b.weight_only = weight_only;
  prog.buffers.push_back(std::move(b));
  return static_cast<int>(prog.buffers.size()) - 1;
}

void LowerContext::launch(Kernel k, std::vector<int> args, bool weight_only, const Node &n) {
  KILN_ASSERT(args.size() == k.params.size(), "launch: one buffer per kernel parameter");
  // A launch that writes a graph output runs on every call, even when its inputs are weights.
  for (size_t i = 0; i < args.size(); ++i)
    if (k.params[i].output && prog.buffers[args[i]].kind == BufferDecl::Kind::Output)
      weight_only = false;
  Launch l;
  l.kernel = std::move(k);
  l.args = std::move(args);
  l.weight_only = weight_only;
  l.node = n.name;
  prog.launches.push_back(std::move(l));
}

bool LowerContext::is_weight(const Value *v) const {
  if (v->is_constant())
    return true;
  // The buffer table already knows (lower() fills it in topological order).
  if (v->id < static_cast<int>(value_buffer.size()) && value_buffer[v->id] >= 0) {
    const BufferDecl &b = prog.buffers[value_buffer[v->id]];
    return b.kind == BufferDecl::Kind::Constant || b.weight_only;
  }
  if (!v->producer)
    return false;
  for (const Value *in : v->producer->inputs)
    if (in && !is_weight(in))
      return false;
  return true;
}

} // namespace kiln
