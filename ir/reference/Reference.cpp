// The reference interpreter's entry points: the per-op dispatch and the whole-graph driver.
// The kernels themselves live in the sibling files, one per op family (see Kernels.h).
#include "ir/Reference.h"

#include "ir/reference/Kernels.h"

namespace kiln {

namespace ref {

std::vector<int64_t> broadcast_strides(const Shape &in, const Shape &out) {
  KILN_ASSERT(in.size() <= out.size(), "broadcast_strides: input rank exceeds output rank");
  std::vector<int64_t> in_st = shape_strides(in);
  std::vector<int64_t> st(out.size(), 0);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    KILN_ASSERT(in[i] == out[lead + i] || in[i] == 1, "broadcast_strides: incompatible shapes");
    st[lead + i] = in[i] == 1 ? 0 : in_st[i];
  }
  return st;
}

std::vector<int64_t> strided_offsets(const Shape &out, const std::vector<int64_t> &st,
                                     int64_t base) {
  int64_t n = shape_numel(out);
  std::vector<int64_t> off(static_cast<size_t>(n));
  if (n == 0)
    return off;
  size_t r = out.size();
  if (r == 0) {
    off[0] = base;
    return off;
  }
  // Odometer over the outer axes; the innermost axis is a plain strided run.
  std::vector<int64_t> idx(r, 0);
  int64_t inner = out[r - 1], s = st[r - 1], cur = base;
  for (int64_t o = 0; o < n / inner; ++o) {
    int64_t *dst = off.data() + o * inner;
    for (int64_t j = 0; j < inner; ++j)
      dst[j] = cur + j * s;
    for (size_t d = r - 1; d-- > 0;) {
      cur += st[d];
      if (++idx[d] < out[d])
        break;
      cur -= st[d] * out[d];
      idx[d] = 0;
    }
  }
  return off;
}

namespace {
// Copies by element width so one routine serves every dtype.
template <class E> void gather_words(const void *src, void *dst, const std::vector<int64_t> &off) {
  const E *s = static_cast<const E *>(src);
  E *d = static_cast<E *>(dst);
  for (size_t i = 0; i < off.size(); ++i)
    d[i] = s[off[i]];
}
} // namespace

void gather_elements_by_offset(const Tensor &src, Tensor &dst, const std::vector<int64_t> &off) {
  KILN_ASSERT(src.dtype() == dst.dtype(), "gather_elements_by_offset: dtype mismatch");
  KILN_ASSERT(static_cast<int64_t>(off.size()) == dst.numel(), "gather: size mismatch");
  switch (dtype_size(src.dtype())) {
  case 1: return gather_words<uint8_t>(src.raw(), dst.raw(), off);
  case 2: return gather_words<uint16_t>(src.raw(), dst.raw(), off);
  case 4: return gather_words<uint32_t>(src.raw(), dst.raw(), off);
  case 8: return gather_words<uint64_t>(src.raw(), dst.raw(), off);
  }
  KILN_ASSERT(false, "gather_elements_by_offset: unexpected element size");
}

void strided_copy(const Tensor &src, Tensor &out, const std::vector<int64_t> &st, int64_t base) {
  gather_elements_by_offset(src, out, strided_offsets(out.shape(), st, base));
}

} // namespace ref

using namespace ref;

Tensor block_channels(const Tensor &x, int64_t b) {
  const Shape &s = x.shape();
  if (x.rank() != 4 || b < 1 || s[1] % b != 0)
    throw Error("block_channels: " + shape_str(s) + " is not NCHW with channels divisible by " +
                std::to_string(b));
  // out[n][cb][h][w][l] = x[n][cb*b + l][h][w]
  const int64_t hw = s[2] * s[3];
  Tensor out(x.dtype(), {s[0], s[1] / b, s[2], s[3], b});
  strided_copy(x, out, {s[1] * hw, b * hw, s[3], 1, hw}, 0);
  return out;
}

Tensor unblock_channels(const Tensor &x) {
  const Shape &s = x.shape();
  if (x.rank() != 5)
    throw Error("unblock_channels: " + shape_str(s) + " is not a blocked [N, C/b, H, W, b]");
  // Walked as [N, C/b, b, H, W]: out[n][cb][l][h][w] = x[n][cb][h][w][l]
  const int64_t b = s[4], hw = s[2] * s[3];
  Tensor out(x.dtype(), {s[0], s[1], b, s[2], s[3]});
  strided_copy(x, out, {s[1] * hw * b, hw * b, 1, s[3] * b, b}, 0);
  return out.reshaped({s[0], s[1] * b, s[2], s[3]});
}

std::vector<Tensor> evaluate_node(const Node &node, const std::vector<Tensor> &in) {
  switch (op_family(node.op)) {
  case OpFamily::Unary: return {eval_unary(node, in)};
  case OpFamily::Binary: return {eval_binary(node, in)};
  case OpFamily::Select: return {eval_where(node, in)};
  case OpFamily::FusedElementwise: return {eval_fused_elementwise(node, in)};
  case OpFamily::Conv: return eval_conv_family(node, in);
  case OpFamily::Pool: return eval_pool_family(node, in);
  case OpFamily::Norm: return eval_norm_family(node, in);
  case OpFamily::Linalg: return eval_linalg_family(node, in);
  case OpFamily::Softmax: return eval_softmax_family(node, in);
  case OpFamily::Movement: return eval_movement_family(node, in);
  case OpFamily::Resize: return {eval_resize(node, in)};
  case OpFamily::Reduce: return eval_reduce_family(node, in);
  case OpFamily::Quant: return eval_quant_family(node, in);
  }
  KILN_ASSERT(false, "evaluate_node: not an OpFamily");
}

std::vector<Tensor> run_reference(const Graph &g, const std::vector<Tensor> &inputs,
                                  const std::function<void(size_t, const Node &)> &on_node) {
  const auto &gin = g.inputs();
  if (inputs.size() != gin.size())
    throw Error("the model has " + std::to_string(gin.size()) + " inputs but " +
                std::to_string(inputs.size()) + " were given");
  std::vector<Tensor> env(g.values().size());
  for (size_t i = 0; i < gin.size(); ++i) {
    const Value *v = gin[i];
    const Tensor &t = inputs[i];
    if (!t.defined() || t.dtype() != v->dtype || t.shape() != v->shape)
      throw Error("input '" + v->name + "' expects " + type_str(v->dtype, v->shape) + " but got " +
                  (t.defined() ? type_str(t.dtype(), t.shape()) : "nothing"));
    env[v->id] = t;
  }
  for (const auto &v : g.values())
    if (v->is_constant())
      env[v->id] = *v->constant;

  // Free each intermediate as soon as its last consumer has run: whole-model runs would
  // otherwise hold every activation at once.
  std::vector<int> uses = g.use_counts();
  const auto &nodes = g.nodes();
  for (size_t ni = 0; ni < nodes.size(); ++ni) {
    const Node &node = *nodes[ni];
    // A node nobody reads (dead code the caller did not remove) is not worth running.
    bool live = false;
    for (const Value *o : node.outputs)
      live = live || uses[o->id] > 0;
    if (!live) {
      for (const Value *v : node.inputs)
        if (v && --uses[v->id] == 0 && !v->is_constant())
          env[v->id] = Tensor();
      if (on_node)
        on_node(ni, node);
      continue;
    }
    std::vector<Tensor> args;
    args.reserve(node.inputs.size());
    for (const Value *v : node.inputs) {
      if (!v) {
        args.emplace_back();
        continue;
      }
      KILN_ASSERT(env[v->id].defined(), "value '" + v->name + "' used before it is computed");
      args.push_back(env[v->id]);
    }
    std::vector<Tensor> outs;
    try {
      outs = evaluate_node(node, args);
    } catch (const Error &e) {
      throw Error("node '" + node.name + "' (" + std::string(op_name(node.op)) + "): " + e.what());
    }
    args.clear();
    KILN_ASSERT(outs.size() == node.outputs.size(), "wrong output count for " + node.name);
    for (size_t i = 0; i < outs.size(); ++i) {
      const Value *o = node.outputs[i];
      KILN_ASSERT(outs[i].dtype() == o->dtype && outs[i].shape() == o->shape,
                  "reference " + std::string(op_name(node.op)) + " '" + node.name + "' produced " +
                      type_str(outs[i].dtype(), outs[i].shape()) + " for " +
                      type_str(o->dtype, o->shape));
      if (uses[o->id] > 0)
        env[o->id] = std::move(outs[i]);
    }
    for (const Value *v : node.inputs)
      if (v && --uses[v->id] == 0 && !v->is_constant())
        env[v->id] = Tensor();
    if (on_node)
      on_node(ni, node);
  }

  std::vector<Tensor> result;
  for (const Value *o : g.outputs()) {
    KILN_ASSERT(env[o->id].defined(), "graph output '" + o->name + "' was never computed");
    result.push_back(env[o->id]);
  }
  return result;
}

} // namespace kiln
