// `kiln detect`: images in, annotated pictures and detections out.
#include "tools/Detect.h"

#include "ir/Error.h"
#include "ir/Npy.h"
#include "tools/Console.h"
#include "tools/Inputs.h"
#include "tools/Timing.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

namespace fs = std::filesystem;

namespace kiln {

namespace {

// Ultralytics' 20-colour palette, so pictures look familiar to YOLO users.
constexpr uint32_t kPalette[] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231,
                                 0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
                                 0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC,
                                 0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};

Rgb class_color(int c) {
  uint32_t v = kPalette[static_cast<size_t>(std::max(c, 0)) % std::size(kPalette)];
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::string class_name(const std::vector<std::string> &names, int c) {
  if (c >= 0 && static_cast<size_t>(c) < names.size())
    return names[c];
  return "class" + std::to_string(c);
}

bool is_image_file(const fs::path &p) {
  static const std::set<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".tga",
                                             ".gif", ".ppm",  ".pgm", ".pnm"};
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return exts.count(e) > 0;
}

// The annotated copy keeps a JPEG or PNG extension; other formats are written as PNG.
std::string output_name_for(const fs::path &rel) {
  fs::path out = rel;
  if (!can_save_image(out.string()))
    out.replace_extension(".png");
  return out.string();
}

} // namespace

void annotate(Image &img, const std::vector<Detection> &dets,
              const std::vector<std::string> &names) {
  int lw = std::max(2, static_cast<int>(std::lround((img.width + img.height) / 2.0 * 0.003)));
  int scale = std::max(2, lw);
  // Best boxes last, so their labels stay on top.
  for (auto it = dets.rbegin(); it != dets.rend(); ++it) {
    const Detection &d = *it;
    Rgb c = class_color(d.class_id);
    int x1 = static_cast<int>(d.x1), y1 = static_cast<int>(d.y1);
    int x2 = static_cast<int>(d.x2), y2 = static_cast<int>(d.y2);
    draw_rect(img, x1, y1, x2, y2, lw, c);
    std::string label = fmt::format("{} {:.2f}", class_name(names, d.class_id), d.score);
    int tw = text_width(label, scale) + 3 * scale, th = text_height(scale);
    // Above the box when there is room, else just inside its top edge.
    int ly = y1 - th >= 0 ? y1 - th : y1;
    int lx = std::min(x1, std::max(0, img.width - tw));
    fill_rect(img, lx, ly, lx + tw, ly + th, c);
    // Dark text on light colours, white on dark ones (ITU-R BT.601 luma).
    bool light = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b > 150;
    draw_text(img, lx + scale, ly, label, scale, light ? Rgb{0, 0, 0} : Rgb{255, 255, 255});
  }
}

std::vector<ImageSource> collect_images(const std::vector<std::string> &sources) {
  std::vector<ImageSource> v;
  for (const std::string &src : sources) {
    std::error_code ec;
    fs::path p(src);
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file() && is_image_file(it->path()))
          found.push_back(it->path());
      if (ec)
        throw Error(src + ": cannot list folder (" + ec.message() + ")");
      std::sort(found.begin(), found.end());
      for (const fs::path &f : found)
        v.push_back({f.string(), output_name_for(f.lexically_relative(p))});
      continue;
    }
    if (!fs::exists(p, ec))
      throw Error(src + ": no such image file or folder");
    if (p.extension() == ".txt") {
      // A frame list: one image path per line; blank lines and '#' comments are skipped.
      std::ifstream f(p);
      std::string line;
      while (std::getline(f, line)) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
          line.pop_back();
        if (line.empty() || line[0] == '#')
          continue;
        fs::path frame = fs::path(line).is_absolute() ? fs::path(line) : p.parent_path() / line;
        v.push_back({frame.string(), output_name_for(frame.filename())});
      }
      continue;
    }
    v.push_back({p.string(), output_name_for(p.filename())});
  }
  // Two inputs with one output name (a.jpg in two folders given separately) get a suffix.
  std::set<std::string> used;
  for (ImageSource &s : v) {
    std::string name = s.output_name;
    for (int k = 2; used.count(name); ++k) {
      fs::path n(s.output_name);
      name =
          (n.parent_path() / (n.stem().string() + "_" + std::to_string(k) + n.extension().string()))
              .string();
    }
    used.insert(name);
    s.output_name = name;
  }
  return v;
}

Session open_detect_session(const std::string &model, const SessionFlags &f) {
  Session s = open_session(model, session_options(f));
  throw_if_failed(s.compile());
  print_pass_times(f, s.stats());
  return s;
}

namespace {

void save_input_npy(const std::string &dir, const std::string &output_name, const HostTensor &t) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("--save-input '" + dir + "': " + ec.message());
  write_npy((fs::path(dir) / fs::path(output_name).replace_extension(".npy").filename()).string(),
            to_tensor(t));
}

} // namespace

CLI::App *add_detect_command(CLI::App &app, DetectArgs &a) {
  auto *c = app.add_subcommand("detect", "detect objects in images: annotated pictures, JSON");
  c->add_option("model", a.model, "model.onnx or .kiln (YOLOv5/v8/v10/11, YOLOX)")->required();
  c->add_option("images", a.sources, "image files, folders, frame lists (.txt)")->required();
  c->add_option("-o,--output-dir", a.output_dir, "folder for the annotated pictures")
      ->capture_default_str();
  c->add_flag("--no-save", a.no_save, "write no pictures");
  c->add_option("--format", a.format, "picture format: jpg or png (default: as the input)")
      ->check(CLI::IsMember({"jpg", "png"}));
  c->add_option("--conf", a.conf, "score threshold")->capture_default_str();
  c->add_option("--iou", a.iou, "class-wise NMS IoU threshold")->capture_default_str();
  c->add_option("--max-det", a.max_det, "detections per image at most")->capture_default_str();
  add_session_flags(c, a.session);
  c->add_option("--head", a.head, "output layout: auto, yolov8, yolov5, yolox, end2end")
      ->capture_default_str();
  c->add_flag("--json", a.json, "print the detections as JSON");
  // For tests: the exact tensors Kiln ran, so ONNX Runtime can be fed the same input.
  c->add_option("--save-input", a.save_input_dir, "write DIR/<image>.npy")->group("");
  return c;
}

int cmd_detect(const DetectArgs &a) {
  if (!(a.conf >= 0 && a.conf < 1) || !(a.iou > 0 && a.iou <= 1) || a.max_det < 1)
    throw Error("--conf must be in [0, 1), --iou in (0, 1] and --max-det at least 1");
  std::vector<ImageSource> images = collect_images(a.sources);
  if (images.empty())
    throw Error("no images found in " + a.sources.front() +
                (a.sources.size() > 1 ? " (and the other paths given)" : ""));

  double t_open = now_s();
  Session s = open_detect_session(a.model, a.session);
  double open_ms = (now_s() - t_open) * 1e3;
  ModelInfo m = recognise_model(s.inputs(), s.outputs(), s.metadata(), a.head);
  SessionStats st = s.stats();
  if (!a.no_save) {
    std::error_code ec;
    fs::create_directories(a.output_dir, ec);
    if (ec)
      throw Error("-o '" + a.output_dir + "': " + ec.message());
  }

  nlohmann::json jimages = nlohmann::json::array(), jdets = nlohmann::json::array();
  std::vector<NamedTensor> outputs;
  DecodeOptions opt{a.conf, a.iou, a.max_det};
  Progress progress(images.size(), "images", "img");
  size_t total_dets = 0;
  double t_start = now_s();
  for (size_t i = 0; i < images.size(); ++i) {
    const ImageSource &src = images[i];
    double t0 = now_s();
    Image img = load_image(src.path);
    Letterbox lb;
    HostTensor input = preprocess(img, m, lb);
    if (!a.save_input_dir.empty())
      save_input_npy(a.save_input_dir, src.output_name, input);
    double t1 = now_s();
    if (Status rs = s.run({{m.input_name, input}}, outputs); !rs)
      throw Error(src.path + ": " + rs.error());
    double t2 = now_s();
    std::vector<Detection> dets = decode(m, to_floats(outputs[m.output_index].tensor), opt, lb);
    std::string out_path;
    if (!a.no_save) {
      annotate(img, dets, m.names);
      fs::path out = fs::path(a.output_dir) / src.output_name;
      if (!a.format.empty())
        out.replace_extension("." + a.format);
      std::error_code ec;
      fs::create_directories(out.parent_path(), ec);
      out_path = out.string();
      save_image(out_path, img);
    }
    double t3 = now_s();
    total_dets += dets.size();

    if (a.json) {
      nlohmann::json ji = {{"image", src.path},
                           {"width", img.width},
                           {"height", img.height},
                           {"detections", dets.size()},
                           {"preprocess_ms", (t1 - t0) * 1e3},
                           {"inference_ms", (t2 - t1) * 1e3},
                           {"postprocess_ms", (t3 - t2) * 1e3}};
      if (!out_path.empty())
        ji["output"] = out_path;
      jimages.push_back(ji);
      progress.bar(i + 1);
      for (const Detection &d : dets)
        jdets.push_back({{"image", src.path},
                         {"class_id", d.class_id},
                         {"class", class_name(m.names, d.class_id)},
                         {"score", d.score},
                         {"box", {d.x1, d.y1, d.x2, d.y2}}});
      continue;
    }
    progress.clear();
    fmt::print("{} ({}x{}): {} detection{}, {:.1f} ms{}\n", src.path, img.width, img.height,
               dets.size(), dets.size() == 1 ? "" : "s", (t3 - t0) * 1e3,
               out_path.empty() ? "" : " -> " + out_path);
    for (const Detection &d : dets)
      fmt::print("  {:<14} {:.2f}  [{:.0f}, {:.0f}, {:.0f}, {:.0f}]\n",
                 class_name(m.names, d.class_id), d.score, d.x1, d.y1, d.x2, d.y2);
    std::fflush(stdout);
    progress.bar(i + 1);
  }
  progress.finish();
  double wall = now_s() - t_start;
  bool loaded = st.cache == "hit" || st.cache == "file";

  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"target", a.session.target},
                        {"head", head_name(m.head)},
                        {"input", {m.input_name, {1, 3, m.input_h, m.input_w}}},
                        {"names", m.names_source},
                        {"conf", a.conf},
                        {"iou", a.iou},
                        {"cache", st.cache},
                        {"open_ms", open_ms},
                        {"images_per_s", wall > 0 ? images.size() / wall : 0.0},
                        {"images", jimages},
                        {"detections", jdets}};
    j[loaded ? "load_ms" : "compile_ms"] = loaded ? st.load_ms : st.compile_ms;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {} head, {}x{} input, {} image{}, {} detection{}, {:.1f} img/s ({} {:.0f} ms, "
             "cache {}){}\n",
             a.model, head_name(m.head), m.input_w, m.input_h, images.size(),
             images.size() == 1 ? "" : "s", total_dets, total_dets == 1 ? "" : "s",
             wall > 0 ? images.size() / wall : 0.0, loaded ? "load" : "compile",
             loaded ? st.load_ms : st.compile_ms, st.cache,
             a.no_save ? "" : ", pictures in " + a.output_dir);
  return 0;
}

} // namespace kiln
