// `kiln validate`: mAP on a YOLO-format dataset, Kiln next to ONNX Runtime.
#include "tools/Validate.h"

#include "ir/Error.h"
#include "ir/Npy.h"
#include "tools/Console.h"
#include "tools/Inputs.h"
#include "tools/Timing.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
namespace fs = std::filesystem;

namespace kiln {

namespace {

constexpr int kIouSteps = 10; // 0.50, 0.55, ... 0.95

// Per detection: its class, score and whether it matched at each IoU threshold.
struct Scored {
  int class_id;
  float score;
  std::array<bool, kIouSteps> tp;
};

// COCO's matching: detections by descending score take the best-overlapping unmatched
// ground-truth box of their class, if it overlaps by at least the threshold.
void match_image(const ImageEval &im, std::vector<Scored> &out) {
  std::vector<Detection> dets = im.detections;
  std::stable_sort(dets.begin(), dets.end(),
                   [](const Detection &a, const Detection &b) { return a.score > b.score; });
  std::vector<std::array<bool, kIouSteps>> used(im.truth.size());
  for (auto &u : used)
    u.fill(false);
  for (const Detection &d : dets) {
    Scored s{d.class_id, d.score, {}};
    for (int t = 0; t < kIouSteps; ++t) {
      float thr = 0.5f + 0.05f * t;
      int best = -1;
      float best_iou = thr - 1e-9f;
      for (size_t g = 0; g < im.truth.size(); ++g) {
        if (im.truth[g].class_id != d.class_id || used[g][t])
          continue;
        float iou = box_iou(d, im.truth[g]);
        if (iou >= best_iou) {
          best_iou = iou;
          best = static_cast<int>(g);
        }
      }
      s.tp[t] = best >= 0;
      if (best >= 0)
        used[best][t] = true;
    }
    out.push_back(s);
  }
}

// 101-point interpolated average precision of score-sorted matches against n_truth boxes.
double average_precision(const std::vector<const Scored *> &dets, int t, int64_t n_truth) {
  std::vector<double> recall, precision;
  int64_t tp = 0, fp = 0;
  for (const Scored *d : dets) {
    (d->tp[t] ? tp : fp)++;
    recall.push_back(static_cast<double>(tp) / n_truth);
    precision.push_back(static_cast<double>(tp) / (tp + fp));
  }
  // The precision envelope: the best precision at this recall or any higher one.
  for (size_t i = precision.size(); i-- > 1;)
    precision[i - 1] = std::max(precision[i - 1], precision[i]);
  double sum = 0;
  for (int k = 0; k <= 100; ++k) {
    auto it = std::lower_bound(recall.begin(), recall.end(), k / 100.0 - 1e-12);
    if (it != recall.end())
      sum += precision[it - recall.begin()];
  }
  return sum / 101;
}

} // namespace

Metrics evaluate(const std::vector<ImageEval> &images, float pr_conf) {
  Metrics m;
  std::vector<Scored> all;
  std::map<int, int64_t> truth_per_class;
  for (const ImageEval &im : images) {
    match_image(im, all);
    for (const Detection &g : im.truth)
      truth_per_class[g.class_id]++;
    m.truth += static_cast<int64_t>(im.truth.size());
  }
  m.detections = static_cast<int64_t>(all.size());
  std::stable_sort(all.begin(), all.end(),
                   [](const Scored &a, const Scored &b) { return a.score > b.score; });
  for (const auto &[cls, n] : truth_per_class) {
    std::vector<const Scored *> dets;
    for (const Scored &s : all)
      if (s.class_id == cls)
        dets.push_back(&s);
    double ap50 = average_precision(dets, 0, n), ap = 0;
    for (int t = 0; t < kIouSteps; ++t)
      ap += t == 0 ? ap50 : average_precision(dets, t, n);
    m.map50 += ap50;
    m.map50_95 += ap / kIouSteps;
  }
  m.classes = static_cast<int>(truth_per_class.size());
  if (m.classes) {
    m.map50 /= m.classes;
    m.map50_95 /= m.classes;
  }
  int64_t kept = 0, tp = 0;
  for (const Scored &s : all)
    if (s.score > pr_conf) {
      ++kept;
      tp += s.tp[0];
    }
  m.precision = kept ? static_cast<double>(tp) / kept : 0;
  m.recall = m.truth ? static_cast<double>(tp) / m.truth : 0;
  return m;
}

CLI::App *add_validate_command(CLI::App &app, ValidateArgs &a) {
  auto *c = app.add_subcommand("validate", "mAP on a YOLO-format dataset, Kiln and ONNX Runtime");
  c->add_option("model", a.model, "model.onnx (or .kiln: Kiln only)")->required();
  c->add_option("--dataset", a.dataset, "folder with images/ and labels/ (YOLO format)")
      ->required();
  c->add_option("--conf", a.conf, "score threshold of the detections evaluated")
      ->capture_default_str();
  c->add_option("--iou", a.iou, "class-wise NMS IoU threshold")->capture_default_str();
  c->add_option("--pr-conf", a.pr_conf, "score threshold of the precision and recall")
      ->capture_default_str();
  c->add_option("--max-det", a.max_det, "detections per image at most")->capture_default_str();
  add_session_flags(c, a.session, {.target_help = "where Kiln runs the model: cpu, opencl"});
  c->add_option("--head", a.head, "output layout: auto, yolov8, yolov5, yolox, end2end")
      ->capture_default_str();
  c->add_option("--ort-python", a.ort_python,
                "Python with onnxruntime for the comparison (default: $KILN_PYTHON, the "
                "project's .venv, python3)");
  c->add_flag("--no-ort", a.no_ort, "skip the ONNX Runtime column");
  c->add_flag("--json", a.json, "print one JSON object");
  return c;
}

namespace {

// Ground truth of one image: "class cx cy w h" (or "class x1 y1 x2 y2 ..." polygons, whose
// bounding box counts), normalised to the image size. A missing file: no objects.
std::vector<Detection> read_labels(const fs::path &file, int w, int h) {
  std::vector<Detection> boxes;
  std::ifstream f(file);
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    std::istringstream ss(line);
    std::vector<double> v;
    for (double x; ss >> x;)
      v.push_back(x);
    if (v.empty())
      continue;
    bool box = v.size() == 5, polygon = v.size() >= 7 && v.size() % 2 == 1;
    if ((!box && !polygon) || v[0] < 0)
      throw Error(
          fmt::format("{}:{}: expected 'class cx cy w h' (normalised)", file.string(), line_no));
    Detection d;
    d.class_id = static_cast<int>(v[0]);
    if (box) {
      d.x1 = static_cast<float>((v[1] - v[3] / 2) * w);
      d.x2 = static_cast<float>((v[1] + v[3] / 2) * w);
      d.y1 = static_cast<float>((v[2] - v[4] / 2) * h);
      d.y2 = static_cast<float>((v[2] + v[4] / 2) * h);
    } else {
      d.x1 = d.y1 = 1e30f;
      d.x2 = d.y2 = -1e30f;
      for (size_t i = 1; i + 1 < v.size(); i += 2) {
        d.x1 = std::min(d.x1, static_cast<float>(v[i] * w));
        d.x2 = std::max(d.x2, static_cast<float>(v[i] * w));
        d.y1 = std::min(d.y1, static_cast<float>(v[i + 1] * h));
        d.y2 = std::max(d.y2, static_cast<float>(v[i + 1] * h));
      }
    }
    boxes.push_back(d);
  }
  return boxes;
}

} // namespace

int run_process(const std::vector<std::string> &argv, const std::string &log) {
  std::vector<char *> args;
  for (const std::string &s : argv)
    args.push_back(const_cast<char *>(s.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return 127;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0)
    return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string last_line(const std::string &file) {
  std::ifstream f(file);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty())
      last = line;
  return last;
}

// The ONNX Runtime side: every pre-processed input in, every raw output out, as .npy files.
// Shipped inside the binary so `kiln validate` works from any folder.
constexpr const char *kOrtScript = R"PY(import os, sys
import numpy as np
import onnxruntime as ort
model, in_dir, out_dir = sys.argv[1:4]
so = ort.SessionOptions()
so.log_severity_level = 3
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
for f in sorted(os.listdir(in_dir)):
    outs = sess.run(None, {name: np.load(os.path.join(in_dir, f))})
    for k, o in enumerate(outs):
        np.save(os.path.join(out_dir, f"{f[:-4]}_{k}.npy"), o)
print("onnxruntime", ort.__version__)
)PY";

std::string find_ort_python(const std::string &explicit_python, const std::filesystem::path &tmp) {
  std::vector<std::string> candidates;
  if (!explicit_python.empty())
    candidates.push_back(explicit_python);
  else {
    if (const char *env = std::getenv("KILN_PYTHON"))
      candidates.push_back(env);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
      candidates.push_back((exe.parent_path().parent_path() / ".venv/bin/python").string());
    candidates.push_back(".venv/bin/python");
    candidates.push_back("python3");
  }
  for (const std::string &py : candidates) {
    if (py.find('/') != std::string::npos && !fs::exists(py))
      continue;
    if (run_process({py, "-c", "import numpy, onnxruntime"}, (tmp / "probe.log").string()) == 0)
      return py;
  }
  return "";
}

namespace {

std::string fixed(double v) { return fmt::format("{:.4f}", v); }

/// --precision "f16" or "f32,f16,bf16": the precisions to evaluate, f32 first whenever a lower
/// one is asked for (its mAP is what the others' deltas are taken from).
std::vector<std::string> validate_precisions(const std::string &spec) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= spec.size();) {
    size_t e = std::min(spec.find(',', at), spec.size());
    std::string p = spec.substr(at, e - at);
    if (p.empty())
      throw Error("--precision '" + spec + "': an empty name (e.g. f32,f16)");
    if (std::find(out.begin(), out.end(), p) == out.end())
      out.push_back(p);
    at = e + 1;
  }
  auto f32 = std::find(out.begin(), out.end(), "f32");
  if (f32 != out.end())
    out.erase(f32);
  out.insert(out.begin(), "f32");
  return out;
}

} // namespace

int cmd_validate(const ValidateArgs &a) {
  fs::path images_dir = fs::path(a.dataset) / "images", labels_dir = fs::path(a.dataset) / "labels";
  std::error_code ec;
  if (!fs::is_directory(images_dir, ec))
    throw Error("--dataset '" + a.dataset +
                "': expected images/ and labels/ folders inside (YOLO format)");
  std::vector<ImageSource> images = collect_images({images_dir.string()});
  if (images.empty())
    throw Error("--dataset '" + a.dataset + "': no images under " + images_dir.string());

  // One session per precision, all compiled before the first image (a precision the CPU lacks
  // fails here, in one line).
  std::vector<std::string> precisions = validate_precisions(a.session.precision);
  std::vector<Session> sessions;
  for (const std::string &p : precisions) {
    SessionFlags f = a.session;
    f.precision = p;
    sessions.push_back(open_detect_session(a.model, f));
  }
  const Session &s = sessions.front();
  ModelInfo m = recognise_model(s.inputs(), s.outputs(), s.metadata(), a.head);
  DecodeOptions opt{a.conf, a.iou, a.max_det};

  // A private scratch folder for the ONNX Runtime exchange, removed however we leave. mkdtemp
  // makes a new one per run: a pid-named folder could be one a killed run left behind (with
  // its inputs still inside) once the pid comes round again.
  std::string tmp_name = (fs::temp_directory_path() / "kiln-validate-XXXXXX").string();
  if (!::mkdtemp(tmp_name.data()))
    throw Error("cannot make a temporary folder " + tmp_name + ": " + std::strerror(errno));
  fs::path tmp = tmp_name;
  fs::create_directories(tmp / "in", ec);
  fs::create_directories(tmp / "out", ec);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{tmp};

  std::string ort_note;
  std::string python;
  bool is_onnx = fs::path(a.model).extension() == ".onnx";
  if (a.no_ort)
    ort_note = "skipped (--no-ort)";
  else if (!is_onnx)
    ort_note = "skipped (a .kiln file has no ONNX model)";
  else if ((python = find_ort_python(a.ort_python, tmp)).empty()) {
    if (!a.ort_python.empty())
      throw Error("--ort-python '" + a.ort_python + "' cannot import numpy and onnxruntime");
    ort_note = "not available (no Python with onnxruntime; see --ort-python)";
  }

  // kiln_eval[k]: the detections of precision k.
  std::vector<std::vector<ImageEval>> kiln_eval(precisions.size(),
                                                std::vector<ImageEval>(images.size()));
  std::vector<ImageEval> ort_eval(images.size());
  std::vector<Letterbox> boxes(images.size());
  std::vector<NamedTensor> outputs;
  Progress progress(images.size(), "images", "img");
  double t0 = now_s();
  std::vector<double> run_s(precisions.size(), 0.0);
  for (size_t i = 0; i < images.size(); ++i) {
    Image img = load_image(images[i].path);
    fs::path rel = fs::path(images[i].path).lexically_relative(images_dir);
    std::vector<Detection> truth =
        read_labels((labels_dir / rel).replace_extension(".txt"), img.width, img.height);
    HostTensor input = preprocess(img, m, boxes[i]);
    if (!python.empty()) {
      write_npy((tmp / "in" / fmt::format("{:08d}.npy", i)).string(), to_tensor(input));
    }
    for (size_t k = 0; k < sessions.size(); ++k) {
      double r0 = now_s();
      outputs.clear(); // the sessions' output types may differ
      if (Status st = sessions[k].run({{m.input_name, input}}, outputs); !st)
        throw Error(images[i].path + ": " + st.error());
      run_s[k] += now_s() - r0;
      kiln_eval[k][i] = {decode(m, to_floats(outputs[m.output_index].tensor), opt, boxes[i]),
                         truth};
    }
    ort_eval[i].truth = std::move(truth);
    progress.bar(i + 1);
  }
  progress.finish();
  double kiln_wall = now_s() - t0;

  std::string ort_version;
  if (!python.empty()) {
    std::string script = (tmp / "ort_outputs.py").string(), log = (tmp / "ort.log").string();
    std::ofstream(script) << kOrtScript;
    int rc = run_process({python, script, fs::absolute(a.model).string(), (tmp / "in").string(),
                          (tmp / "out").string()},
                         log);
    if (rc != 0)
      throw Error("ONNX Runtime (" + python + ") failed: " + last_line(log));
    ort_version = last_line(log);
    for (size_t i = 0; i < images.size(); ++i) {
      Tensor o = read_npy((tmp / "out" / fmt::format("{:08d}_{}.npy", i, m.output_index)).string());
      std::vector<double> v = o.to_f64_vector();
      ort_eval[i].detections = decode(m, std::vector<float>(v.begin(), v.end()), opt, boxes[i]);
    }
  }

  std::vector<Metrics> kms;
  for (const std::vector<ImageEval> &e : kiln_eval)
    kms.push_back(evaluate(e, a.pr_conf));
  const Metrics &km = kms.front();
  auto images_per_s = [&](size_t k) { return run_s[k] > 0 ? images.size() / run_s[k] : 0.0; };
  std::optional<Metrics> om;
  if (!python.empty())
    om = evaluate(ort_eval, a.pr_conf);
  auto metrics_json = [](const Metrics &x) {
    return nlohmann::json{{"map50", x.map50},
                          {"map50_95", x.map50_95},
                          {"precision", x.precision},
                          {"recall", x.recall},
                          {"detections", x.detections}};
  };
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"dataset", a.dataset},
                        {"images", images.size()},
                        {"boxes", km.truth},
                        {"classes", km.classes},
                        {"head", head_name(m.head)},
                        {"input", {m.input_name, {1, 3, m.input_h, m.input_w}}},
                        {"conf", a.conf},
                        {"iou", a.iou},
                        {"pr_conf", a.pr_conf},
                        {"kiln", metrics_json(km)},
                        {"kiln_images_per_s", images_per_s(0)}};
    if (precisions.size() > 1) {
      // Every precision's metrics and their change from f32 (always evaluated, first).
      nlohmann::json by = nlohmann::json::array();
      for (size_t k = 0; k < precisions.size(); ++k) {
        nlohmann::json e = metrics_json(kms[k]);
        e["precision"] = precisions[k];
        e["images_per_s"] = images_per_s(k);
        e["delta_map50"] = kms[k].map50 - kms[0].map50;
        e["delta_map50_95"] = kms[k].map50_95 - kms[0].map50_95;
        by.push_back(e);
      }
      j["kiln"]["precision"] = precisions[0];
      j["by_precision"] = by;
    }
    j["onnxruntime"] = om ? metrics_json(*om) : nlohmann::json(nullptr);
    if (om)
      j["onnxruntime_version"] = ort_version;
    else
      j["onnxruntime_note"] = ort_note;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{} on {}: {} images, {} boxes, {} classes; {} head; conf {:g}, NMS IoU {:g}; P/R "
             "at score > {:g}, IoU 0.5\n",
             fs::path(a.model).filename().string(), a.dataset, images.size(), km.truth, km.classes,
             head_name(m.head), a.conf, a.iou, a.pr_conf);
  // Columns: Kiln per precision (with its change from f32 after each low precision), then ORT.
  std::vector<std::string> head;
  for (const std::string &p : precisions) {
    head.push_back("Kiln " + (precisions.size() > 1 ? p + " " : "") + "(" + a.session.target + ")");
    if (p != precisions.front())
      head.push_back("delta " + p);
  }
  head.push_back(om ? ort_version : "ONNX Runtime");
  std::string line = fmt::format("  {:<14}", "");
  for (const std::string &h : head)
    line += fmt::format(" {:>{}}", h, std::max<size_t>(12, h.size()));
  fmt::print("{}\n", line);
  auto row = [&](const char *name, double Metrics::*field) {
    std::vector<std::string> cells;
    for (size_t k = 0; k < kms.size(); ++k) {
      cells.push_back(fixed(kms[k].*field));
      if (k > 0)
        cells.push_back(fmt::format("{:+.4f}", kms[k].*field - kms[0].*field));
    }
    cells.push_back(om ? fixed((*om).*field) : "-");
    std::string l = fmt::format("  {:<14}", name);
    for (size_t c = 0; c < cells.size(); ++c)
      l += fmt::format(" {:>{}}", cells[c], std::max<size_t>(12, head[c].size()));
    fmt::print("{}\n", l);
  };
  row("mAP@0.5", &Metrics::map50);
  row("mAP@0.5:0.95", &Metrics::map50_95);
  row("precision", &Metrics::precision);
  row("recall", &Metrics::recall);
  for (size_t k = 0; k < precisions.size(); ++k)
    fmt::print("  Kiln{}: {:.1f} img/s inference\n",
               precisions.size() > 1 ? " " + precisions[k] : std::string(), images_per_s(k));
  fmt::print("  Kiln: {:.1f} s in all (reading, inference, decode)\n", kiln_wall);
  if (!om)
    fmt::print("  ONNX Runtime: {}\n", ort_note);
  return 0;
}

} // namespace kiln
