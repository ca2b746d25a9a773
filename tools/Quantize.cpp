// `kiln quantize` (see Quantize.h).
#include "tools/Quantize.h"

#include "frontend/OnnxImporter.h"
#include "ir/AtomicFile.h"
#include "ir/Error.h"
#include "tools/Console.h"
#include "tools/Decode.h"
#include "tools/Detect.h"
#include "tools/Inputs.h"
#include "tools/Timing.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <onnx/onnx_pb.h>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace kiln {

namespace {

/// Ops that mark a model as quantized already.
const std::set<std::string> kQuantOps = {"QuantizeLinear",
                                         "DequantizeLinear",
                                         "DynamicQuantizeLinear",
                                         "QLinearConv",
                                         "QLinearMatMul",
                                         "ConvInteger",
                                         "MatMulInteger",
                                         "QLinearAdd",
                                         "QLinearMul",
                                         "QLinearSigmoid",
                                         "QLinearConcat",
                                         "QLinearLeakyRelu",
                                         "QLinearAveragePool",
                                         "QLinearGlobalAveragePool"};

/// Ops whose form changed between opset 11 and 13 (an input replaced an attribute, or the axis
/// semantics moved): a model with one of them cannot simply be relabelled opset 13, which
/// per-channel DequantizeLinear (its axis attribute) needs.
const std::set<std::string> kChangedBy13 = {"Split",   "Squeeze",    "Unsqueeze", "ReduceSum",
                                            "Softmax", "LogSoftmax", "Hardmax",   "Dropout"};

/// Activations after a Conv that make it a hidden layer (not a prediction conv).
const std::set<std::string> kActivations = {"Relu", "LeakyRelu", "Clip",        "HardSwish",
                                            "Elu",  "Selu",      "HardSigmoid", "Mish",
                                            "Gelu", "PRelu",     "Softplus",    "ThresholdedRelu"};

constexpr int kBins = 2048;         ///< histogram of |x| per tensor (percentile, entropy)
constexpr int kQuantizedBins = 128; ///< the entropy search's target bins (TensorRT's, ORT's)
constexpr double kPercentile = 99.999;

std::string read_bytes(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error(path + ": cannot open");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// The values of a float initializer (raw_data or float_data).
std::vector<float> floats_of(const onnx::TensorProto &t, const std::string &what) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    throw Error(what + ": initializer '" + t.name() + "' is not float");
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(what + ": initializer '" + t.name() +
                "' has external data (kiln quantize needs it inside the model)");
  int64_t n = 1;
  for (int64_t d : t.dims())
    n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != v.size() * sizeof(float))
      throw Error(what + ": initializer '" + t.name() + "' has the wrong number of bytes");
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
    return v;
  }
  if (t.float_data_size() != n)
    throw Error(what + ": initializer '" + t.name() + "' has the wrong number of values");
  std::copy(t.float_data().begin(), t.float_data().end(), v.begin());
  return v;
}

template <class T>
onnx::TensorProto make_tensor(const std::string &name, int type, const std::vector<int64_t> &dims,
                              const std::vector<T> &values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (int64_t d : dims)
    t.add_dims(d);
  t.set_raw_data(
      std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T)));
  return t;
}

int64_t attr_int(const onnx::NodeProto &n, const std::string &name, int64_t fallback) {
  for (const auto &a : n.attribute())
    if (a.name() == name)
      return a.i();
  return fallback;
}

/// Running statistics of one tensor: min, max and a histogram of |x| over [0, hist_max] that is
/// re-binned (by bin centres, as ONNX Runtime's calibrator merges) when a larger |x| comes.
struct Stats {
  float lo = INFINITY, hi = -INFINITY;
  double hist_max = 0;
  std::vector<double> hist;

  void add(const float *x, int64_t n, bool histogram) {
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
    lo = std::min(lo, mn), hi = std::max(hi, mx);
    if (!histogram)
      return;
    double amax = std::max(std::abs(mn), std::abs(mx));
    if (hist.empty())
      hist.assign(kBins, 0);
    if (amax > hist_max) {
      if (hist_max > 0) {
        std::vector<double> merged(kBins, 0);
        for (int b = 0; b < kBins; ++b) {
          double centre = (b + 0.5) * hist_max / kBins;
          merged[std::min(kBins - 1, static_cast<int>(centre / amax * kBins))] += hist[b];
        }
        hist = std::move(merged);
      }
      hist_max = amax;
    }
    if (hist_max == 0) {
      hist[0] += static_cast<double>(n);
      return;
    }
    const double k = kBins / hist_max;
    for (int64_t i = 0; i < n; ++i)
      ++hist[std::min(kBins - 1, static_cast<int>(std::abs(x[i]) * k))];
  }
};

/// The |x| below which `pct` percent of the values lie.
double percentile_threshold(const Stats &s, double pct) {
  double total = 0, cum = 0;
  for (double c : s.hist)
    total += c;
  for (int b = 0; b < kBins; ++b) {
    cum += s.hist[b];
    if (cum >= total * pct / 100)
      return (b + 1) * s.hist_max / kBins;
  }
  return s.hist_max;
}

/// KL(p || q) of two unnormalised distributions, q smoothed where p has mass and q none.
double kl_divergence(std::vector<double> p, std::vector<double> q) {
  auto normalise_smooth = [](std::vector<double> &v) {
    constexpr double eps = 1e-4;
    size_t zeros = std::count(v.begin(), v.end(), 0.0), nonzeros = v.size() - zeros;
    double total = 0;
    for (double x : v)
      total += x;
    if (total == 0 || nonzeros == 0)
      return false;
    double take = eps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
    for (double &x : v)
      x = x == 0 ? eps : x / total - take;
    return true;
  };
  if (!normalise_smooth(p) || !normalise_smooth(q))
    return INFINITY;
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] > 0 && q[i] > 0)
      kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

/// TensorRT's entropy calibration on |x|: the clipping threshold whose 128-level quantization of
/// the histogram is closest (KL divergence) to the clipped histogram itself.
double entropy_threshold(const Stats &s) {
  const std::vector<double> &h = s.hist;
  double best = INFINITY;
  int best_i = kBins;
  for (int i = kQuantizedBins; i <= kBins; ++i) {
    std::vector<double> p(h.begin(), h.begin() + i);
    for (int b = i; b < kBins; ++b)
      p[i - 1] += h[b];
    // Merge the i bins into kQuantizedBins, then spread each merged count back over the
    // non-empty bins it came from.
    std::vector<double> q(i, 0);
    const double per = static_cast<double>(i) / kQuantizedBins;
    for (int j = 0; j < kQuantizedBins; ++j) {
      int start = static_cast<int>(j * per),
          stop = j == kQuantizedBins - 1 ? i : static_cast<int>((j + 1) * per);
      double sum = 0;
      int nonzero = 0;
      for (int b = start; b < stop; ++b) {
        sum += h[b];
        nonzero += h[b] != 0;
      }
      for (int b = start; b < stop; ++b)
        if (h[b] != 0)
          q[b] = sum / nonzero;
    }
    double kl = kl_divergence(p, q);
    if (kl < best)
      best = kl, best_i = i;
  }
  return (best_i + 0.5) * s.hist_max / kBins;
}

struct QParams {
  float scale = 1;
  uint8_t zero_point = 0;
};

/// u8 asymmetric parameters of a range: widened to hold 0, scale (max - min) / 255, zero point
/// round(-min / scale) (ONNX Runtime's quantizer's arithmetic).
QParams activation_params(double lo, double hi) {
  lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  QParams p;
  if (hi - lo <= 0)
    return p;
  p.scale = static_cast<float>((hi - lo) / 255);
  double z = std::nearbyint(-lo / p.scale);
  p.zero_point = static_cast<uint8_t>(std::clamp(z, 0.0, 255.0));
  return p;
}

/// The range a method takes from a tensor's statistics.
std::pair<double, double> calibrated_range(const Stats &s, const std::string &method) {
  if (method == "minmax" || s.hist_max == 0)
    return {s.lo, s.hi};
  double t = method == "percentile" ? percentile_threshold(s, kPercentile) : entropy_threshold(s);
  return {std::max<double>(s.lo, -t), std::min<double>(s.hi, t)};
}

/// Why a Conv stays float ("" when it is quantized).
struct ConvPlan {
  int node = 0;
  std::string why_float;
  std::string silu_out; ///< the x * Sigmoid(x) after it, when there is one
};

std::vector<std::string> split_list(const std::vector<std::string> &v) {
  std::vector<std::string> out;
  for (const std::string &s : v) {
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty())
        out.push_back(item);
  }
  return out;
}

} // namespace

CLI::App *add_quantize_command(CLI::App &app, QuantizeArgs &a) {
  auto *c = app.add_subcommand(
      "quantize", "post-training static quantization with calibration images: a QDQ ONNX model");
  c->add_option("model", a.model, "float model.onnx")->required();
  c->add_option("--calibration", a.calibration,
                "folder of calibration images (jpg/png, searched recursively)")
      ->required();
  c->add_option("-o,--output", a.output, "the quantized model.onnx to write")->required();
  c->add_flag("--per-channel", a.per_channel, "one weight scale per output channel");
  c->add_option("--method", a.method,
                "activation ranges: minmax, percentile (99.999% of |x|) "
                "or entropy (KL-divergence threshold)")
      ->capture_default_str();
  c->add_option("--exclude", a.exclude, "Conv node names to keep float (comma-separated)")
      ->delimiter(',');
  c->add_flag("--include-head", a.include_head,
              "quantize the prediction convs too (those followed by no activation)");
  c->add_flag("--include-stem", a.include_stem,
              "quantize the stem too (the convs no other conv precedes)");
  c->add_option("--limit", a.limit, "use at most N calibration images (0: all)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--head", a.head, "the head's pre-processing: auto, v8, v5, yolox, end2end")
      ->capture_default_str();
  add_session_flags(c, a.session,
                    {.target_help = "where calibration runs: cpu, opencl", .threads = true});
  return c;
}

int cmd_quantize(const QuantizeArgs &a) {
  if (a.method != "minmax" && a.method != "percentile" && a.method != "entropy")
    throw Error("--method '" + a.method + "': expected minmax, percentile or entropy");
  if (fs::path(a.model).extension() != ".onnx")
    throw Error("quantize needs an .onnx model: " + a.model);
  std::error_code ec;
  if (!fs::is_directory(a.calibration, ec))
    throw Error("--calibration '" + a.calibration + "': no such folder");
  std::vector<ImageSource> images = collect_images({a.calibration});
  if (images.empty())
    throw Error("--calibration '" + a.calibration + "': no images (jpg, png) in it");
  if (a.limit > 0 && images.size() > static_cast<size_t>(a.limit))
    images.resize(static_cast<size_t>(a.limit));

  onnx::ModelProto model;
  if (!model.ParseFromString(read_bytes(a.model)) || !model.has_graph())
    throw Error(a.model + ": not an ONNX model (protobuf parse failed)");
  onnx::GraphProto &graph = *model.mutable_graph();
  for (const auto &n : graph.node())
    if (kQuantOps.count(n.op_type()))
      throw Error(a.model + " is already quantized (node '" + n.name() + "' is " + n.op_type() +
                  "); kiln quantize takes a float model");
  int64_t opset = 0;
  for (const auto &o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset = o.version();
  if (opset < 10)
    throw Error(a.model + ": opset " + std::to_string(opset) +
                " has no QuantizeLinear (needs opset >= 10)");

  // The graph's shape: initializers, the consumers of every value, graph inputs and outputs.
  std::map<std::string, const onnx::TensorProto *> inits;
  for (const auto &t : graph.initializer())
    inits[t.name()] = &t;
  std::map<std::string, std::vector<int>> consumers;
  for (int i = 0; i < graph.node_size(); ++i)
    for (const std::string &in : graph.node(i).input())
      if (!in.empty()) {
        auto &c = consumers[in];
        if (c.empty() || c.back() != i)
          c.push_back(i);
      }
  std::set<std::string> graph_outputs, graph_inputs;
  for (const auto &o : graph.output())
    graph_outputs.insert(o.name());
  for (const auto &in : graph.input())
    if (!inits.count(in.name()))
      graph_inputs.insert(in.name());

  // Which Convs are quantized, and why the others stay float.
  std::vector<std::string> excluded = split_list(a.exclude);
  std::set<std::string> exclude_set(excluded.begin(), excluded.end());
  for (const std::string &name : excluded) {
    bool found = false;
    for (const auto &n : graph.node())
      found |= n.name() == name && n.op_type() == "Conv";
    if (!found)
      throw Error("--exclude '" + name + "': no Conv node of that name in " + a.model);
  }
  // Values computed after some Conv (ONNX lists nodes in topological order).
  std::set<std::string> after_conv;
  for (const auto &n : graph.node()) {
    bool after = n.op_type() == "Conv";
    for (const std::string &in : n.input())
      after |= after_conv.count(in) > 0;
    if (after)
      after_conv.insert(n.output().begin(), n.output().end());
  }
  std::vector<ConvPlan> plans;
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto &n = graph.node(i);
    if (n.op_type() != "Conv")
      continue;
    ConvPlan p;
    p.node = i;
    const std::string &y = n.output(0);
    const auto &users = consumers[y];
    // x * Sigmoid(x): a Sigmoid and a Mul reading y, the Sigmoid read only by that Mul.
    if (users.size() == 2 && !graph_outputs.count(y)) {
      for (int k = 0; k < 2; ++k) {
        const onnx::NodeProto &sig = graph.node(users[k]), &mul = graph.node(users[1 - k]);
        if (sig.op_type() != "Sigmoid" || mul.op_type() != "Mul" || mul.input_size() != 2 ||
            consumers[sig.output(0)].size() != 1 || graph_outputs.count(sig.output(0)))
          continue;
        if ((mul.input(0) == y && mul.input(1) == sig.output(0)) ||
            (mul.input(1) == y && mul.input(0) == sig.output(0)))
          p.silu_out = mul.output(0);
      }
    }
    bool activation = !p.silu_out.empty() ||
                      (users.size() == 1 && kActivations.count(graph.node(users[0]).op_type()));
    auto w = inits.find(n.input_size() > 1 ? n.input(1) : "");
    bool const_bias = n.input_size() < 3 || n.input(2).empty() || inits.count(n.input(2));
    if (exclude_set.count(n.name()))
      p.why_float = "--exclude";
    else if (w == inits.end() || !const_bias)
      p.why_float = "weights not constant";
    else if (w->second->dims_size() != 4 || w->second->data_type() != onnx::TensorProto::FLOAT)
      p.why_float = "not a 2-D float conv";
    else if (attr_int(n, "group", 1) != 1)
      p.why_float = "grouped/depthwise";
    else if (!after_conv.count(n.input(0)) && !a.include_stem)
      p.why_float = "stem (reads the image)";
    else if (!activation && !a.include_head)
      p.why_float = "head (no activation after it)";
    plans.push_back(p);
  }

  // The tensors that get a QuantizeLinear: each quantized Conv's input and output, and the SiLU
  // output after it.
  std::vector<std::string> quantized; // in first-seen order, for stable output
  std::set<std::string> quantized_set;
  auto want = [&](const std::string &t) {
    if (quantized_set.insert(t).second)
      quantized.push_back(t);
  };
  std::set<int> quantized_convs;
  for (const ConvPlan &p : plans)
    if (p.why_float.empty())
      quantized_convs.insert(p.node);
  const size_t n_quant = quantized_convs.size();
  for (const ConvPlan &p : plans) {
    if (!p.why_float.empty())
      continue;
    const onnx::NodeProto &n = graph.node(p.node);
    want(n.input(0));
    want(n.output(0));
    // The SiLU output is quantized (fusing into the QLinearConv) when a quantized Conv reads it.
    bool read_quantized = false;
    for (int c : consumers[p.silu_out])
      read_quantized |= quantized_convs.count(c) > 0;
    if (read_quantized)
      want(p.silu_out);
  }
  if (n_quant == 0)
    throw Error(a.model + ": no Conv to quantize (" + std::to_string(plans.size()) +
                " Convs, all kept float)");
  if (a.per_channel && opset < 13)
    for (const auto &n : graph.node())
      if (kChangedBy13.count(n.op_type()))
        throw Error("--per-channel needs opset 13 (DequantizeLinear's axis); " + a.model +
                    " has opset " + std::to_string(opset) + " and a " + n.op_type() +
                    " whose form changed since");

  // Calibration: the float model with every quantized tensor an output, compiled, run on each
  // image.
  std::unique_ptr<Graph> g = import_onnx(a.model, import_options(a.session.input_shapes));
  auto info = [](const std::vector<Value *> &vs) {
    std::vector<TensorInfo> t;
    for (const Value *v : vs)
      t.push_back({v->name, static_cast<ElementType>(v->dtype), v->shape});
    return t;
  };
  ModelInfo m = recognise_model(info(g->inputs()), info(g->outputs()), g->metadata(), a.head);

  std::string tmp_name = (fs::temp_directory_path() / "kiln-quantize-XXXXXX").string();
  if (!::mkdtemp(tmp_name.data()))
    throw Error("cannot make a scratch folder in " + fs::temp_directory_path().string());
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{tmp_name};
  std::string with_values = (fs::path(tmp_name) / "calibrate.onnx").string();
  write_text_file(with_values, onnx_with_outputs(a.model, quantized));
  Session s = open_session(with_values, session_options(a.session));
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < s.outputs().size(); ++i)
    index[s.outputs()[i].name] = i;
  for (const std::string &t : quantized)
    if (!graph_inputs.count(t) && !index.count(t))
      throw InternalError("quantize: calibration model has no output '" + t + "'");

  const bool histogram = a.method != "minmax";
  std::map<std::string, Stats> stats;
  std::vector<NamedTensor> outputs;
  Progress progress(images.size(), "images", "img");
  fmt::print(stderr, "calibrating {} tensors of {} on {} images ({})\n", quantized.size(), a.model,
             images.size(), a.method);
  // The first run compiles; the ETA counts from the second on.
  double t0 = now_s(), t1 = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    std::string eta =
        i == 0   ? "compiling the calibration model"
        : i == 1 ? "ETA ..."
                 : fmt::format("ETA {:.0f} s",
                               (now_s() - t1) / static_cast<double>(i - 1) * (images.size() - i));
    progress.status(i, fmt::format("{} ({})", images[i].path, eta), true);
    Letterbox lb;
    HostTensor input = preprocess(load_image(images[i].path), m, lb);
    if (Status st = s.run({{m.input_name, input}}, outputs); !st)
      throw Error(images[i].path + ": " + st.error());
    for (const std::string &t : quantized) {
      const HostTensor &v = graph_inputs.count(t) ? input : outputs[index[t]].tensor;
      if (v.type() == ElementType::f32) {
        stats[t].add(v.data_as<float>(), v.numel(), histogram);
        continue;
      }
      std::vector<float> f = to_floats(v);
      stats[t].add(f.data(), static_cast<int64_t>(f.size()), histogram);
    }
    if (i == 0)
      t1 = now_s();
  }
  progress.finish();
  double calib_s = now_s() - t0;

  std::map<std::string, QParams> qp;
  for (const std::string &t : quantized) {
    auto [lo, hi] = calibrated_range(stats[t], a.method);
    qp[t] = activation_params(lo, hi);
  }

  // The QDQ graph: nodes in their order, each quantized tensor followed by its Quantize and
  // Dequantize, every reader of it (but the Quantize) reading the Dequantize's output instead;
  // each quantized Conv reads int8 weights and int32 bias through Dequantize nodes.
  auto qname = [](const std::string &t) { return t + "_quantized"; };
  auto dqname = [](const std::string &t) { return t + "_dequantized"; };
  std::vector<onnx::TensorProto> new_inits;
  std::vector<onnx::NodeProto> nodes;
  auto add_node = [&](const std::string &op, std::vector<std::string> in, const std::string &out,
                      int64_t axis = -1) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(out + "_" + op);
    for (const std::string &i : in)
      n.add_input(i);
    n.add_output(out);
    if (axis >= 0) {
      auto *at = n.add_attribute();
      at->set_name("axis");
      at->set_type(onnx::AttributeProto::INT);
      at->set_i(axis);
    }
    nodes.push_back(std::move(n));
  };
  auto quantize_after = [&](const std::string &t) {
    const QParams &p = qp[t];
    new_inits.push_back(make_tensor<float>(t + "_scale", onnx::TensorProto::FLOAT, {}, {p.scale}));
    new_inits.push_back(
        make_tensor<uint8_t>(t + "_zero_point", onnx::TensorProto::UINT8, {}, {p.zero_point}));
    add_node("QuantizeLinear", {t, t + "_scale", t + "_zero_point"}, qname(t));
    add_node("DequantizeLinear", {qname(t), t + "_scale", t + "_zero_point"}, dqname(t));
  };
  std::set<std::string> weights_done;
  for (const std::string &t : quantized)
    if (graph_inputs.count(t))
      quantize_after(t);
  for (int i = 0; i < graph.node_size(); ++i) {
    onnx::NodeProto n = graph.node(i);
    // Float Convs read the float tensor: a per-tensor 8-bit step of a tensor whose channels
    // differ widely in range (a depthwise conv's input) wipes out its small channels. Other ops
    // read the dequantized tensor, as an int8 engine computes them.
    const bool float_conv = n.op_type() == "Conv" && !quantized_convs.count(i);
    for (int k = 0; k < n.input_size(); ++k)
      if (quantized_set.count(n.input(k)) && !float_conv)
        n.set_input(k, dqname(n.input(k)));
    if (quantized_convs.count(i)) {
      const std::string &x = graph.node(i).input(0), &wn = n.input(1);
      const onnx::TensorProto &wt = *inits.at(wn);
      std::vector<float> w = floats_of(wt, a.model);
      const int64_t oc = wt.dims(0), per = static_cast<int64_t>(w.size()) / oc;
      std::vector<float> sw(a.per_channel ? oc : 1);
      for (int64_t c = 0; c < oc; ++c)
        for (int64_t j = 0; j < per; ++j) {
          float &s = sw[a.per_channel ? c : 0];
          s = std::max(s, std::abs(w[c * per + j]));
        }
      for (float &s : sw)
        s = s > 0 ? s / 127 : 1.0f;
      const int64_t axis = a.per_channel ? 0 : -1;
      const std::vector<int64_t> sdims =
          a.per_channel ? std::vector<int64_t>{oc} : std::vector<int64_t>{};
      const std::string wq = wn + "_quantized";
      if (weights_done.insert(wn).second) {
        std::vector<int8_t> q(w.size());
        for (size_t j = 0; j < w.size(); ++j) {
          float s = sw[a.per_channel ? j / per : 0];
          q[j] = static_cast<int8_t>(std::clamp(std::nearbyint(w[j] / s), -127.0f, 127.0f));
        }
        std::vector<int64_t> dims(wt.dims().begin(), wt.dims().end());
        new_inits.push_back(make_tensor<int8_t>(wq, onnx::TensorProto::INT8, dims, q));
        new_inits.push_back(make_tensor<float>(wn + "_scale", onnx::TensorProto::FLOAT, sdims, sw));
        new_inits.push_back(make_tensor<int8_t>(wn + "_zero_point", onnx::TensorProto::INT8, sdims,
                                                std::vector<int8_t>(sw.size(), 0)));
        add_node("DequantizeLinear", {wq, wn + "_scale", wn + "_zero_point"}, dqname(wn), axis);
      }
      n.set_input(1, dqname(wn));
      if (n.input_size() > 2 && !n.input(2).empty()) {
        // The bias in int32 at scale x_scale * w_scale (float products, as the kernel checks).
        std::vector<float> b = floats_of(*inits.at(n.input(2)), a.model);
        const std::string bn = n.output(0) + "_bias";
        std::vector<float> sb(sw.size());
        std::vector<int32_t> bq(b.size());
        for (size_t c = 0; c < sw.size(); ++c)
          sb[c] = qp[x].scale * sw[c];
        for (size_t c = 0; c < b.size(); ++c)
          bq[c] = static_cast<int32_t>(
              std::clamp(std::nearbyint(static_cast<double>(b[c]) / sb[a.per_channel ? c : 0]),
                         -2147483647.0, 2147483647.0));
        new_inits.push_back(make_tensor<int32_t>(bn + "_quantized", onnx::TensorProto::INT32,
                                                 {static_cast<int64_t>(b.size())}, bq));
        new_inits.push_back(make_tensor<float>(bn + "_scale", onnx::TensorProto::FLOAT, sdims, sb));
        new_inits.push_back(make_tensor<int32_t>(bn + "_zero_point", onnx::TensorProto::INT32,
                                                 sdims, std::vector<int32_t>(sb.size(), 0)));
        add_node("DequantizeLinear", {bn + "_quantized", bn + "_scale", bn + "_zero_point"},
                 dqname(bn), axis);
        n.set_input(2, dqname(bn));
      }
    }
    nodes.push_back(n);
    for (const std::string &out : n.output())
      if (quantized_set.count(out))
        quantize_after(out);
  }
  graph.clear_node();
  for (onnx::NodeProto &n : nodes)
    *graph.add_node() = std::move(n);

  // Float initializers no node reads any more (the quantized weights and biases) go.
  std::set<std::string> read;
  for (const auto &n : graph.node())
    read.insert(n.input().begin(), n.input().end());
  std::vector<onnx::TensorProto> keep;
  for (const auto &t : graph.initializer())
    if (read.count(t.name()) || graph_outputs.count(t.name()))
      keep.push_back(t);
  graph.clear_initializer();
  for (onnx::TensorProto &t : keep)
    *graph.add_initializer() = std::move(t);
  for (onnx::TensorProto &t : new_inits)
    *graph.add_initializer() = std::move(t);
  // Initializers listed as graph inputs (old IR versions) that are gone leave the inputs too.
  std::vector<onnx::ValueInfoProto> inputs;
  for (const auto &in : graph.input())
    if (graph_inputs.count(in.name()) || read.count(in.name()))
      inputs.push_back(in);
  graph.clear_input();
  for (onnx::ValueInfoProto &in : inputs)
    *graph.add_input() = std::move(in);

  if (a.per_channel && opset < 13) {
    for (auto &o : *model.mutable_opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx")
        o.set_version(13);
    model.set_ir_version(std::max<int64_t>(model.ir_version(), 7));
  }
  auto *prop = model.add_metadata_props();
  prop->set_key("kiln_quantize");
  prop->set_value(
      fmt::format("method={} per_channel={} images={}", a.method, a.per_channel, images.size()));
  write_text_file(a.output, model.SerializeAsString());

  std::map<std::string, int> why;
  for (const ConvPlan &p : plans)
    if (!p.why_float.empty())
      ++why[p.why_float];
  std::string kept;
  for (const auto &[reason, count] : why)
    kept += fmt::format("{}{} {}", kept.empty() ? "" : ", ", count, reason);
  fmt::print(
      "{} convs quantized, {} kept float{}; {} calibration images ({}, {:.1f} s); wrote {}\n",
      n_quant, plans.size() - n_quant, kept.empty() ? "" : " (" + kept + ")", images.size(),
      a.method, calib_s, a.output);
  return 0;
}

} // namespace kiln
