// The conv helpers shared by the CPU and GPU-shaped conv lowerings (see
// passes/LowerConvUtil.h).
#include "passes/LowerConvUtil.h"

#include "passes/LowerLoops.h"

#include <algorithm>

namespace kiln {

using namespace lw;

ConvGeom conv_geom(const Node &n, const Value &x, const Value &w, const Value &y) {
  const Attrs &a = n.attrs;
  const auto &st = a.ints("strides"), &dil = a.ints("dilations"), &pads = a.ints("pads");
  ConvGeom g;
  g.x_block = a.has("x_block") ? a.i("x_block") : 0;
  g.y_block = a.has("y_block") ? a.i("y_block") : 0;
  g.n = x.shape[0], g.c = x.shape[1] * std::max<int64_t>(1, g.x_block), g.h = x.shape[2],
  g.w = x.shape[3];
  g.m = y.shape[1] * std::max<int64_t>(1, g.y_block), g.oh = y.shape[2], g.ow = y.shape[3];
  g.kh = w.shape[2], g.kw = w.shape[3];
  g.group = a.i("group");
  g.cg = g.c / g.group, g.mg = g.m / g.group;
  g.sh = st[0], g.sw = st[1], g.dh = dil[0], g.dw = dil[1];
  g.pt = pads[0], g.pl = pads[1];
  return g;
}

void check_conv_4d(const Node &n) {
  const size_t xr = n.attrs.has("x_block") && n.attrs.i("x_block") > 0 ? 5 : 4;
  if (n.inputs[0]->shape.size() != xr || n.inputs[1]->shape.size() != 4)
    no_kernel(n, "non-2-D convolution");
}

int pack_conv_weights(LowerContext &cx, const Node &n, const ConvGeom &g, const ConvTiles &t,
                      DType adt, const Value *wzp) {
  const Value *w = n.inputs[1];
  const int64_t nb = ceil_div(g.mg, t.ocb), ocb = t.ocb;
  bool weight_only = cx.is_weight(w) && (!wzp || cx.is_weight(wzp));
  int packed =
      cx.add_buffer(n.name + ".packed_w", adt, {g.group, nb, g.kh, g.kw, g.cg, ocb}, weight_only);
  KernelBuilder kb(std::string(wzp ? "convinteger" : "conv2d") + "_packw_" + std::to_string(g.kh) +
                   "x" + std::to_string(g.kw) + "_" + std::string(dtype_name(adt)));
  int wb = kb.param(cx.prog, cx.buffer(w), false);
  int zb = wzp ? kb.param(cx.prog, cx.buffer(wzp), false) : -1;
  int pb = kb.param(cx.prog, packed, true);
  const int64_t zp_numel = wzp ? shape_numel(wzp->shape) : 0;
  int p = kb.new_var();
  Stmt body = split_parallel(kb, var(p), {g.group, nb}, [&](const std::vector<Expr> &c) {
    Expr gi = c[0], b = c[1];
    return loop(kb, g.kh, ForKind::Serial, [&](Expr kh) {
      return loop(kb, g.kw, ForKind::Serial, [&](Expr kw) {
        return loop(kb, g.cg, ForKind::Serial, [&](Expr ic) {
          return loop(kb, ocb, ForKind::Serial, [&](Expr o) {
            Expr oc_l = b * imm(ocb) + o;
            Expr oc = gi * imm(g.mg) + emin(oc_l, imm(g.mg - 1));
            Expr src = ((oc * imm(g.cg) + ic) * imm(g.kh) + kh) * imm(g.kw) + kw;
            Expr val = load_as(wb, w->dtype, adt, src);
            if (wzp)
              val = val - load_as(zb, wzp->dtype, adt, zp_numel == 1 ? imm(0) : oc);
            if (g.mg % ocb != 0)
              val = select(lt(oc_l, imm(g.mg)), val, zero_of(adt));
            Expr dst =
                (((var(p) * imm(g.kh) + kh) * imm(g.kw) + kw) * imm(g.cg) + ic) * imm(ocb) + o;
            return store(pb, dst, val);
          });
        });
      });
    });
  });
  std::vector<int> args = kb.args();
  Kernel k =
      kb.finish(for_loop(p, imm(0), imm(g.group * nb), ForKind::Parallel, body), g.group * nb);
  cx.launch(std::move(k), std::move(args), weight_only, n);
  return packed;
}

ConvOperands conv_operands(const Node &n, bool integer) {
  ConvOperands o;
  if (integer) {
    o.xzp = n.inputs[2];
    o.wzp = n.inputs[3];
    return o;
  }
  o.bias = n.inputs.size() > 2 ? n.inputs[2] : nullptr;
  o.residual = n.inputs.size() > 3 ? n.inputs[3] : nullptr;
  if (n.attrs.has("activation"))
    o.act = n.attrs.s("activation");
  return o;
}

Expr conv_activation(const Node &n, const std::string &act, Expr v) {
  auto k = [](double c) { return fimm(c, DType::f32); };
  if (act == "none")
    return v;
  if (act == "relu")
    return emax(v, k(0));
  if (act == "sigmoid")
    return unary(UnOp::Sigmoid, v);
  if (act == "silu")
    return v * unary(UnOp::Sigmoid, v);
  if (act == "leaky_relu")
    return select(le(k(0), v), v, k(n.attrs.f("alpha")) * v);
  if (act == "hardswish")
    return v * emax(k(0), emin(k(1), binary(BinOp::Div, v, k(6)) + k(0.5)));
  no_kernel(n, "activation '" + act + "'");
}

} // namespace kiln
