// The lowering driver: the buffer table, then one dispatch per node on its op family (ops.def).
#include "passes/Lower.h"

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

// ---- the driver ----

namespace {

void lower_node(LowerContext &cx, const Node &n) {
  switch (op_family(n.op)) {
  case OpFamily::Unary:
  case OpFamily::Binary:
  case OpFamily::Select:
  case OpFamily::FusedElementwise: return lower_elementwise(cx, n);
  case OpFamily::Conv:
    switch (family_op<OpFamily::Conv>(n.op)) {
    case ConvOp::Conv:
    case ConvOp::ConvInteger: return lower_conv(cx, n);
    case ConvOp::ConvTranspose: return lower_conv_transpose(cx, n);
    }
    break;
  case OpFamily::Pool: return lower_pool(cx, n);
  case OpFamily::Norm: return lower_batchnorm(cx, n);
  case OpFamily::Linalg: return lower_matmul(cx, n);
  case OpFamily::Softmax: return lower_reduce(cx, n); // a reduction, then a map, over one axis
  case OpFamily::Movement: return lower_movement(cx, n);
  case OpFamily::Resize: return lower_resize(cx, n);
  case OpFamily::Reduce: return lower_reduce(cx, n);
  case OpFamily::Quant: return lower_quant(cx, n);
  }
  KILN_ASSERT(false, "lower_node: no lowering for " + std::string(op_name(n.op)));
}

} // namespace

Program lower(const Graph &g, const LowerOptions &opt) {
  Program prog;
  LowerContext cx{g, opt, prog, std::vector<int>(g.values().size(), -1)};
  std::vector<int> uses = g.use_counts();
  std::vector<bool> is_output(g.values().size(), false);
  for (const Value *v : g.outputs())
    is_output[v->id] = true;

  auto add = [&](const Value *v, BufferDecl::Kind kind) {
    if (cx.value_buffer[v->id] >= 0)
      return;
    BufferDecl b;
    b.name = v->name;
    b.dtype = v->dtype;
    b.shape = v->shape;
    b.kind = kind;
    if (kind == BufferDecl::Kind::Constant)
      b.constant = v->constant;
    prog.buffers.push_back(std::move(b));
    cx.value_buffer[v->id] = static_cast<int>(prog.buffers.size()) - 1;
  };
  // Inputs always get a buffer (the caller binds them even when unused); constants only when
  // used; every node output does, as its kernel writes it even when nobody reads it.
  for (const Value *v : g.inputs())
    add(v, BufferDecl::Kind::Input);
  for (const auto &v : g.values())
    if (v->is_constant() && uses[v->id] > 0)
      add(v.get(), BufferDecl::Kind::Constant);
  for (const auto &n : g.nodes()) {
    bool weight = true;
    for (const Value *in : n->inputs)
      if (in && !cx.is_weight(in))
        weight = false;
    for (const Value *out : n->outputs) {
      bool graph_out = is_output[out->id];
      add(out, graph_out ? BufferDecl::Kind::Output : BufferDecl::Kind::Intermediate);
      prog.buffers[cx.value_buffer[out->id]].weight_only = weight && !graph_out;
    }
  }
  for (const Value *v : g.inputs())
    prog.inputs.push_back(cx.value_buffer[v->id]);
  for (const Value *v : g.outputs()) {
    KILN_ASSERT(cx.value_buffer[v->id] >= 0, "graph output without a buffer");
    prog.outputs.push_back(cx.value_buffer[v->id]);
  }

  for (const auto &n : g.nodes()) {
    // An empty result needs no kernel.
    bool empty = true;
    for (const Value *out : n->outputs)
      if (shape_numel(out->shape) > 0)
        empty = false;
    if (!empty)
      lower_node(cx, *n);
  }
  return prog;
}

} // namespace kiln
