// Importers of the network ops: convolutions, pooling, batch norm, matrix products, softmax.
#include "frontend/ImportContext.h"

namespace kiln::frontend {

namespace {

using Outs = std::vector<Value *>;

/// Strides, dilations and explicit pads of a 2-D window op, auto_pad resolved.
struct Window {
  std::vector<int64_t> strides, dilations, pads;
};

std::vector<int64_t> ints2(ImportContext &cx, const char *name, std::vector<int64_t> def) {
  std::vector<int64_t> v = cx.attr_ints(name, def);
  if (v.size() != def.size())
    cx.fail(std::string("attribute '") + name + "' has " + std::to_string(v.size()) +
            " entries; only 2-D windows are supported");
  return v;
}

void require_nchw(ImportContext &cx, const Value *x) {
  if (x->shape.size() != 4)
    cx.fail("only 2-D (NCHW) inputs are supported; input is " + shape_str(x->shape));
}

/// auto_pad SAME_UPPER / SAME_LOWER / VALID become explicit [top, left, bottom, right] pads:
/// SAME keeps out = ceil(in / stride), the odd pixel goes to the end (UPPER) or start (LOWER).
Window read_window(ImportContext &cx, const Value *x, const std::vector<int64_t> &kernel) {
  require_nchw(cx, x);
  Window w;
  w.strides = ints2(cx, "strides", {1, 1});
  w.dilations = ints2(cx, "dilations", {1, 1});
  std::string auto_pad = cx.attr_s("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    w.pads = ints2(cx, "pads", {0, 0, 0, 0});
    return w;
  }
  w.pads = {0, 0, 0, 0};
  if (auto_pad == "VALID")
    return w;
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
    cx.unsupported_attr("auto_pad", "'" + auto_pad + "'");
  for (int a = 0; a < 2; ++a) {
    int64_t in = x->shape[2 + a], s = w.strides[a];
    if (s < 1)
      cx.unsupported_attr("strides", ints_str(w.strides));
    int64_t out = (in + s - 1) / s;
    int64_t extent = (kernel[a] - 1) * w.dilations[a] + 1;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
    int64_t small = total / 2, big = total - small;
    w.pads[a] = auto_pad == "SAME_UPPER" ? small : big;
    w.pads[a + 2] = auto_pad == "SAME_UPPER" ? big : small;
  }
  return w;
}

Attrs window_attrs(const Window &w) {
  Attrs a;
  a.set("strides", w.strides);
  a.set("dilations", w.dilations);
  a.set("pads", w.pads);
  return a;
}

std::vector<int64_t> weight_kernel(ImportContext &cx, const Value *w) {
  if (w->shape.size() != 4)
    cx.fail("only 2-D convolution is supported; weight is " + shape_str(w->shape));
  return {w->shape[2], w->shape[3]};
}

Outs import_conv(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  Value *w = cx.required_input(1, "W");
  Window win = read_window(cx, x, weight_kernel(cx, w));
  Attrs a = window_attrs(win);
  a.set("group", cx.attr_i("group", 1));
  // The epilogue is the fusion pass's to fill in (passes/Fuse.h).
  a.set("activation", std::string("none"));
  a.set("alpha", 0.0);
  std::vector<Value *> ins = {x, w};
  if (Value *b = cx.input(2))
    ins.push_back(b);
  return {cx.emit(OpKind::Conv, ins, a)};
}

Outs import_conv_integer(ImportContext &cx) {
  Value *x = cx.required_input(0, "x");
  Value *w = cx.required_input(1, "w");
  Window win = read_window(cx, x, weight_kernel(cx, w));
  Attrs a = window_attrs(win);
  a.set("group", cx.attr_i("group", 1));
  Value *xz = cx.input(2) ? cx.input(2) : cx.scalar(x->dtype, 0, "/x_zero_point");
  Value *wz = cx.input(3) ? cx.input(3) : cx.scalar(w->dtype, 0, "/w_zero_point");
  return {cx.emit(OpKind::ConvInteger, {x, w, xz, wz}, a)};
}

/// ConvTranspose pads: explicit, or derived from output_shape / auto_pad as the ONNX spec
/// gives: total = stride*(in-1) + output_padding + (k-1)*dilation + 1 - out.
Outs import_conv_transpose(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  Value *w = cx.required_input(1, "W");
  require_nchw(cx, x);
  std::vector<int64_t> kernel = weight_kernel(cx, w);
  Window win;
  win.strides = ints2(cx, "strides", {1, 1});
  win.dilations = ints2(cx, "dilations", {1, 1});
  std::vector<int64_t> out_pad = ints2(cx, "output_padding", {0, 0});
  std::string auto_pad = cx.attr_s("auto_pad", "NOTSET");
  std::vector<int64_t> out_shape = cx.attr_ints("output_shape");
  if (!out_shape.empty() && out_shape.size() != 2 && out_shape.size() != 4)
    cx.unsupported_attr("output_shape", ints_str(out_shape));
  if (out_shape.size() == 4)
    out_shape.erase(out_shape.begin(), out_shape.begin() + 2);

  if (auto_pad == "VALID") {
    win.pads = {0, 0, 0, 0};
  } else if (auto_pad == "NOTSET" && out_shape.empty()) {
    win.pads = ints2(cx, "pads", {0, 0, 0, 0});
  } else {
    if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
      cx.unsupported_attr("auto_pad", "'" + auto_pad + "'");
    if (out_shape.empty())
      out_shape = {x->shape[2] * win.strides[0], x->shape[3] * win.strides[1]};
    win.pads.assign(4, 0);
    for (int a = 0; a < 2; ++a) {
      int64_t total = win.strides[a] * (x->shape[2 + a] - 1) + out_pad[a] +
                      (kernel[a] - 1) * win.dilations[a] + 1 - out_shape[a];
      if (total < 0)
        cx.unsupported_attr("output_shape", ints_str(cx.attr_ints("output_shape")) +
                                                " (larger than the transposed convolution gives)");
      int64_t small = total / 2, big = total - small;
      win.pads[a] = auto_pad == "SAME_UPPER" ? small : big;
      win.pads[a + 2] = auto_pad == "SAME_UPPER" ? big : small;
    }
  }
  Attrs a = window_attrs(win);
  a.set("group", cx.attr_i("group", 1));
  a.set("output_padding", out_pad);
  std::vector<Value *> ins = {x, w};
  if (Value *b = cx.input(2))
    ins.push_back(b);
  return {cx.emit(OpKind::ConvTranspose, ins, a)};
}

std::vector<int64_t> pool_kernel(ImportContext &cx) {
  if (!cx.has_attr("kernel_shape"))
    cx.fail("attribute 'kernel_shape' is missing");
  return ints2(cx, "kernel_shape", {0, 0});
}

int64_t flag_attr(ImportContext &cx, const char *name, int64_t def) {
  int64_t v = cx.attr_i(name, def);
  if (v != 0 && v != 1)
    cx.unsupported_attr(name, std::to_string(v));
  return v;
}

Outs import_max_pool(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  if (cx.output_used(1))
    cx.fail("output 'Indices' is not supported");
  std::vector<int64_t> kernel = pool_kernel(cx);
  Attrs a = window_attrs(read_window(cx, x, kernel));
  a.set("kernel", kernel);
  a.set("ceil_mode", flag_attr(cx, "ceil_mode", 0));
  return {cx.emit(OpKind::MaxPool, {x}, a)};
}

Outs import_average_pool(ImportContext &cx) {
  Value *x = cx.required_input(0, "X");
  std::vector<int64_t> kernel = pool_kernel(cx);
  Window win = read_window(cx, x, kernel);
  if (win.dilations != std::vector<int64_t>{1, 1})
    cx.unsupported_attr("dilations", ints_str(win.dilations));
  Attrs a;
  a.set("kernel", kernel);
  a.set("strides", win.strides);
  a.set("pads", win.pads);
  a.set("ceil_mode", flag_attr(cx, "ceil_mode", 0));
  a.set("count_include_pad", flag_attr(cx, "count_include_pad", 0));
  return {cx.emit(OpKind::AveragePool, {x}, a)};
}

Importer global_pool(OpKind op) {
  return [op](ImportContext &cx) -> Outs {
    Value *x = cx.required_input(0, "X");
    require_nchw(cx, x);
    return {cx.emit(op, {x})};
  };
}

Outs import_batch_norm(ImportContext &cx) {
  if (cx.attr_i("training_mode", 0) != 0)
    cx.unsupported_attr("training_mode", std::to_string(cx.attr_i("training_mode", 0)));
  for (int i = 1; i < cx.num_outputs(); ++i)
    if (cx.output_used(i))
      cx.fail("training outputs (running mean / variance) are not supported");
  std::vector<Value *> ins;
  const char *names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (int i = 0; i < 5; ++i)
    ins.push_back(cx.required_input(i, names[i]));
  Attrs a;
  a.set("epsilon", cx.attr_f("epsilon", 1e-5));
  return {cx.emit(OpKind::BatchNormalization, ins, a)};
}

/// numpy matmul with 1-D operands: a vector A becomes [1,K] and B becomes [K,1]; the added
/// dimension is squeezed from the result. `extra` are MatMulInteger's zero points.
Value *matmul_like(ImportContext &cx, OpKind op, std::vector<Value *> extra) {
  Value *a = cx.required_input(0, "A");
  Value *b = cx.required_input(1, "B");
  if (a->shape.empty() || b->shape.empty())
    cx.fail("operands must have rank >= 1, got " + shape_str(a->shape) + " and " +
            shape_str(b->shape));
  bool a1 = a->shape.size() == 1, b1 = b->shape.size() == 1;
  if (a1)
    a = cx.reshape(a, {1, a->shape[0]}, "/a_2d");
  if (b1)
    b = cx.reshape(b, {b->shape[0], 1}, "/b_2d");
  std::vector<Value *> ins = {a, b};
  ins.insert(ins.end(), extra.begin(), extra.end());
  if (!a1 && !b1)
    return cx.emit(op, ins);
  Value *y = cx.emit(op, ins, {}, "/matmul");
  Shape s = y->shape;
  if (a1)
    s.erase(s.end() - 2);
  if (b1)
    s.pop_back();
  return cx.reshape(y, s);
}

Outs import_matmul(ImportContext &cx) { return {matmul_like(cx, OpKind::MatMul, {})}; }

Outs import_matmul_integer(ImportContext &cx) {
  Value *a = cx.required_input(0, "A");
  Value *b = cx.required_input(1, "B");
  Value *az = cx.input(2) ? cx.input(2) : cx.scalar(a->dtype, 0, "/a_zero_point");
  Value *bz = cx.input(3) ? cx.input(3) : cx.scalar(b->dtype, 0, "/b_zero_point");
  return {matmul_like(cx, OpKind::MatMulInteger, {az, bz})};
}

Outs import_gemm(ImportContext &cx) {
  Attrs a;
  a.set("alpha", cx.attr_f("alpha", 1.0));
  a.set("beta", cx.attr_f("beta", 1.0));
  a.set("transA", flag_attr(cx, "transA", 0));
  a.set("transB", flag_attr(cx, "transB", 0));
  std::vector<Value *> ins = {cx.required_input(0, "A"), cx.required_input(1, "B")};
  if (Value *c = cx.input(2))
    ins.push_back(c);
  return {cx.emit(OpKind::Gemm, ins, a)};
}

/// Before opset 13, Softmax flattened its input to 2-D at `axis` (default 1) and normalised
/// over the whole second half; from 13 it is one axis (default -1), which is ours.
Importer softmax(OpKind op) {
  return [op](ImportContext &cx) -> Outs {
    Value *x = cx.required_input(0, "input");
    int64_t rank = static_cast<int64_t>(x->shape.size());
    bool old = cx.opset() < 13;
    int64_t axis = cx.norm_axis(cx.attr_i("axis", old ? 1 : -1), std::max<int64_t>(rank, 1));
    Attrs a;
    if (!old || axis == rank - 1) {
      a.set("axis", axis);
      return {cx.emit(op, {x}, a)};
    }
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d)
      (d < axis ? outer : inner) *= x->shape[d];
    Value *flat = cx.reshape(x, {outer, inner}, "/flatten");
    a.set("axis", int64_t(1));
    Value *y = cx.emit(op, {flat}, a, "/softmax");
    return {cx.reshape(y, x->shape)};
  };
}

} // namespace

void register_nn_importers(ImporterTable &t) {
  t["Conv"] = import_conv;
  t["ConvInteger"] = import_conv_integer;
  t["ConvTranspose"] = import_conv_transpose;
  t["MaxPool"] = import_max_pool;
  t["AveragePool"] = import_average_pool;
  t["GlobalAveragePool"] = global_pool(OpKind::GlobalAveragePool);
  t["GlobalMaxPool"] = global_pool(OpKind::GlobalMaxPool);
  t["BatchNormalization"] = import_batch_norm;
  t["MatMul"] = import_matmul;
  t["MatMulInteger"] = import_matmul_integer;
  t["Gemm"] = import_gemm;
  t["Softmax"] = softmax(OpKind::Softmax);
  t["LogSoftmax"] = softmax(OpKind::LogSoftmax);
}

} // namespace kiln::frontend
