// The lowering driver: the buffer table, then one dispatch per node on its op family (ops.def).
#include "passes/Lower.h"

#include "passes/LowerContext.h"

namespace kiln {

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
    case ConvOp::QLinearConv: return lower_qlinear_conv(cx, n);
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
