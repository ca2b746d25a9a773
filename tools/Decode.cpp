// Model recognition, letterbox pre-processing, head decoding and NMS for detect and validate.
#include "tools/Decode.h"

#include "ir/DType.h"
#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <numeric>
#include <sstream>

namespace kiln {

const char *head_name(HeadKind h) {
  switch (h) {
  case HeadKind::v8: return "yolov8";
  case HeadKind::v5: return "yolov5";
  case HeadKind::yolox: return "yolox";
  case HeadKind::end2end: return "end2end";
  }
  return "?";
}

std::vector<std::string> parse_names(const std::string &dict) {
  std::vector<std::string> names;
  size_t i = 0, n = dict.size();
  while (i < n) {
    // A key: digits, then ':' and a quoted value.
    while (i < n && !std::isdigit(static_cast<unsigned char>(dict[i])))
      ++i;
    if (i >= n)
      break;
    size_t key = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(dict[i])))
      key = key * 10 + (dict[i++] - '0');
    while (i < n && (dict[i] == ' ' || dict[i] == ':'))
      ++i;
    if (i >= n || (dict[i] != '\'' && dict[i] != '"'))
      return {};
    char quote = dict[i++];
    std::string value;
    while (i < n && dict[i] != quote) {
      if (dict[i] == '\\' && i + 1 < n)
        ++i;
      value += dict[i++];
    }
    ++i;
    if (key > 100000)
      return {};
    if (names.size() <= key)
      names.resize(key + 1);
    names[key] = value;
  }
  return names;
}

const std::vector<std::string> &coco80_names() {
  static const std::vector<std::string> names = {"person",        "bicycle",      "car",
                                                 "motorcycle",    "airplane",     "bus",
                                                 "train",         "truck",        "boat",
                                                 "traffic light", "fire hydrant", "stop sign",
                                                 "parking meter", "bench",        "bird",
                                                 "cat",           "dog",          "horse",
                                                 "sheep",         "cow",          "elephant",
                                                 "bear",          "zebra",        "giraffe",
                                                 "backpack",      "umbrella",     "handbag",
                                                 "tie",           "suitcase",     "frisbee",
                                                 "skis",          "snowboard",    "sports ball",
                                                 "kite",          "baseball bat", "baseball glove",
                                                 "skateboard",    "surfboard",    "tennis racket",
                                                 "bottle",        "wine glass",   "cup",
                                                 "fork",          "knife",        "spoon",
                                                 "bowl",          "banana",       "apple",
                                                 "sandwich",      "orange",       "broccoli",
                                                 "carrot",        "hot dog",      "pizza",
                                                 "donut",         "cake",         "chair",
                                                 "couch",         "potted plant", "bed",
                                                 "dining table",  "toilet",       "tv",
                                                 "laptop",        "mouse",        "remote",
                                                 "keyboard",      "cell phone",   "microwave",
                                                 "oven",          "toaster",      "sink",
                                                 "refrigerator",  "book",         "clock",
                                                 "vase",          "scissors",     "teddy bear",
                                                 "hair drier",    "toothbrush"};
  return names;
}

namespace {

// Cells of the stride-s feature maps of a YOLO neck: P3-P5, or P3-P6.
int64_t grid_cells(int h, int w, std::initializer_list<int> strides) {
  int64_t n = 0;
  for (int s : strides)
    n += static_cast<int64_t>((h + s - 1) / s) * ((w + s - 1) / s);
  return n;
}

std::vector<int> yolox_strides(int h, int w, int64_t n) {
  if (n == grid_cells(h, w, {8, 16, 32}))
    return {8, 16, 32};
  return {8, 16, 32, 64};
}

std::string shape_text(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

std::string meta(const std::vector<std::pair<std::string, std::string>> &md, const char *key) {
  for (const auto &[k, v] : md)
    if (k == key)
      return v;
  return "";
}

} // namespace

ModelInfo recognise_model(const std::vector<TensorInfo> &inputs,
                          const std::vector<TensorInfo> &outputs,
                          const std::vector<std::pair<std::string, std::string>> &metadata,
                          const std::string &head) {
  ModelInfo m;
  if (inputs.empty() || inputs[0].shape.size() != 4 || inputs[0].shape[0] != 1 ||
      inputs[0].shape[1] != 3)
    throw Error("detect needs a model whose first input is an image [1,3,H,W]; this one has " +
                (inputs.empty() ? std::string("no inputs") : shape_text(inputs[0].shape)));
  if (inputs[0].type != ElementType::f32 && inputs[0].type != ElementType::f16)
    throw Error(std::string("detect needs an f32 or f16 image input; this one is ") +
                element_type_name(inputs[0].type));
  m.input_name = inputs[0].name;
  m.input_type = inputs[0].type;
  m.input_h = static_cast<int>(inputs[0].shape[2]);
  m.input_w = static_cast<int>(inputs[0].shape[3]);

  // The detection output is the first [1, a, b] one (seg models add a [1,32,H,W] prototype).
  auto out = std::find_if(outputs.begin(), outputs.end(), [](const TensorInfo &t) {
    return t.shape.size() == 3 && t.shape[0] == 1;
  });
  std::string shapes;
  for (const TensorInfo &t : outputs)
    shapes += (shapes.empty() ? "" : ", ") + t.name + " " + shape_text(t.shape);
  std::string expected = "expected [1,4+C,N] (YOLOv8/11), [1,3N,5+C] (YOLOv5), [1,N,5+C] (raw "
                         "YOLOX head) or [1,K,6] (end-to-end, YOLOv10)";
  if (out == outputs.end())
    throw Error("cannot recognise the detection head: outputs " + shapes + "; " + expected);
  m.output_index = static_cast<size_t>(out - outputs.begin());
  m.output_shape = out->shape;
  int64_t d1 = out->shape[1], d2 = out->shape[2];
  int64_t g3 = grid_cells(m.input_h, m.input_w, {8, 16, 32});
  int64_t g4 = grid_cells(m.input_h, m.input_w, {8, 16, 32, 64});
  auto is_grid = [&](int64_t n) { return n == g3 || n == g4; };

  if (head == "auto") {
    if (is_grid(d2) && d1 > 4)
      m.head = HeadKind::v8;
    else if (d1 % 3 == 0 && is_grid(d1 / 3) && d2 > 5)
      m.head = HeadKind::v5;
    else if (is_grid(d1) && d2 > 5)
      m.head = HeadKind::yolox;
    else if (d2 == 6)
      m.head = HeadKind::end2end;
    else
      throw Error(fmt::format("cannot recognise the detection head: output {} {} for input "
                              "{}x{}; {} (or choose one with --head)",
                              out->name, shape_text(out->shape), m.input_h, m.input_w, expected));
  } else if (head == "yolov8") {
    m.head = HeadKind::v8;
  } else if (head == "yolov5") {
    m.head = HeadKind::v5;
  } else if (head == "yolox") {
    m.head = HeadKind::yolox;
  } else if (head == "end2end") {
    m.head = HeadKind::end2end;
  } else {
    throw Error("--head '" + head + "': expected auto, yolov8, yolov5, yolox or end2end");
  }

  std::vector<std::string> names = parse_names(meta(metadata, "names"));
  switch (m.head) {
  case HeadKind::v8: {
    // Mask coefficients follow the class scores: as many as the prototype output has channels.
    for (const TensorInfo &t : outputs)
      if (t.shape.size() == 4 && t.shape[0] == 1)
        m.num_masks = static_cast<int>(t.shape[1]);
    m.num_classes = static_cast<int>(d1 - 4 - m.num_masks);
    break;
  }
  case HeadKind::v5:
  case HeadKind::yolox: m.num_classes = static_cast<int>(d2 - 5); break;
  case HeadKind::end2end:
    m.num_classes = names.empty() ? 80 : static_cast<int>(names.size());
    break;
  }
  if (m.num_classes <= 0 || (m.head == HeadKind::yolox && !is_grid(d1)) ||
      (m.head == HeadKind::end2end && d2 != 6))
    throw Error(fmt::format("--head {}: output {} {} does not have that layout", head, out->name,
                            shape_text(out->shape)));
  m.yolox_preprocess = m.head == HeadKind::yolox;
  if (!names.empty()) {
    m.names = names;
    m.names_source = "metadata";
  } else if (m.num_classes == 80) {
    m.names = coco80_names();
    m.names_source = "COCO-80";
  }
  for (int c = static_cast<int>(m.names.size()); c < m.num_classes; ++c)
    m.names.push_back("class" + std::to_string(c));
  if (m.names_source.empty())
    m.names_source = "class ids";
  return m;
}

HostTensor preprocess(const Image &img, const ModelInfo &m, Letterbox &lb) {
  int W = m.input_w, H = m.input_h;
  double r = std::min(static_cast<double>(H) / img.height, static_cast<double>(W) / img.width);
  int nw, nh;
  if (m.yolox_preprocess) {
    // YOLOX's preproc: int() truncation, image at the top-left, padding right and bottom.
    nw = static_cast<int>(img.width * r);
    nh = static_cast<int>(img.height * r);
    lb.pad_x = lb.pad_y = 0;
  } else {
    // Ultralytics' LetterBox: Python round() (half to even), centred, the odd pixel at the end.
    nw = static_cast<int>(std::nearbyint(img.width * r));
    nh = static_cast<int>(std::nearbyint(img.height * r));
    lb.pad_x = (W - nw) / 2;
    lb.pad_y = (H - nh) / 2;
  }
  nw = std::clamp(nw, 1, W);
  nh = std::clamp(nh, 1, H);
  lb.scale = static_cast<float>(r);
  lb.image_w = img.width;
  lb.image_h = img.height;

  Image boxed(W, H, Rgb{114, 114, 114});
  Image resized = (nw == img.width && nh == img.height) ? img : resize_bilinear(img, nw, nh);
  for (int y = 0; y < nh; ++y)
    std::copy_n(resized.at(0, y), static_cast<size_t>(nw) * 3, boxed.at(lb.pad_x, lb.pad_y + y));

  HostTensor t(m.input_type, {1, 3, H, W});
  size_t plane = static_cast<size_t>(W) * H;
  float mul = m.yolox_preprocess ? 1.0f : 1.0f / 255.0f;
  for (int c = 0; c < 3; ++c) {
    int src_c = m.yolox_preprocess ? 2 - c : c; // YOLOX reads BGR (OpenCV's order)
    for (size_t i = 0; i < plane; ++i) {
      float v = boxed.pixels[i * 3 + src_c] * mul;
      if (m.input_type == ElementType::f16)
        t.data_as<uint16_t>()[c * plane + i] = f32_to_f16(v);
      else
        t.data_as<float>()[c * plane + i] = v;
    }
  }
  return t;
}

std::vector<float> to_floats(const HostTensor &t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (t.type() == ElementType::f32) {
    std::copy_n(t.data_as<float>(), v.size(), v.begin());
    return v;
  }
  if (t.type() == ElementType::f16) {
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = f16_to_f32(t.data_as<uint16_t>()[i]);
    return v;
  }
  throw Error(std::string("detection output has element type ") + element_type_name(t.type()) +
              "; expected f32 or f16");
}

float box_iou(const Detection &a, const Detection &b) {
  float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0)
    return 0;
  float inter = iw * ih;
  float uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0;
}

namespace {

Detection from_center(int cls, float score, float cx, float cy, float w, float h) {
  return {cls, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
}

// Index and value of the best of n scores at p[0], p[stride], ...
std::pair<int, float> best_class(const float *p, int n, int64_t stride) {
  int best = 0;
  float bv = p[0];
  for (int c = 1; c < n; ++c)
    if (p[c * stride] > bv) {
      bv = p[c * stride];
      best = c;
    }
  return {best, bv};
}

// Candidates above the threshold in model-input pixels, one (the best) class per box.
std::vector<Detection> candidates(const ModelInfo &m, const std::vector<float> &o, float conf) {
  std::vector<Detection> d;
  int nc = m.num_classes;
  int64_t d1 = m.output_shape[1], d2 = m.output_shape[2];
  switch (m.head) {
  case HeadKind::v8:
    for (int64_t i = 0; i < d2; ++i) {
      auto [c, s] = best_class(&o[4 * d2 + i], nc, d2);
      if (s > conf)
        d.push_back(from_center(c, s, o[i], o[d2 + i], o[2 * d2 + i], o[3 * d2 + i]));
    }
    break;
  case HeadKind::v5:
    for (int64_t i = 0; i < d1; ++i) {
      const float *r = &o[i * d2];
      if (r[4] <= conf) // objectness alone already too low (as YOLOv5's NMS filters)
        continue;
      auto [c, s] = best_class(r + 5, nc, 1);
      if (s * r[4] > conf)
        d.push_back(from_center(c, s * r[4], r[0], r[1], r[2], r[3]));
    }
    break;
  case HeadKind::yolox: {
    int64_t i = 0;
    for (int s : yolox_strides(m.input_h, m.input_w, d1)) {
      int gh = (m.input_h + s - 1) / s, gw = (m.input_w + s - 1) / s;
      for (int gy = 0; gy < gh; ++gy)
        for (int gx = 0; gx < gw; ++gx, ++i) {
          const float *r = &o[i * d2];
          auto [c, cs] = best_class(r + 5, nc, 1);
          float score = r[4] * cs;
          if (score > conf)
            d.push_back(from_center(c, score, (r[0] + gx) * s, (r[1] + gy) * s, std::exp(r[2]) * s,
                                    std::exp(r[3]) * s));
        }
    }
    break;
  }
  case HeadKind::end2end:
    for (int64_t i = 0; i < d1; ++i) {
      const float *r = &o[i * 6];
      if (r[4] > conf)
        d.push_back({static_cast<int>(r[5]), r[4], r[0], r[1], r[2], r[3]});
    }
    break;
  }
  return d;
}

// Greedy class-wise NMS over score-sorted boxes.
std::vector<Detection> nms(std::vector<Detection> d, float iou, int max_det) {
  std::stable_sort(d.begin(), d.end(),
                   [](const Detection &a, const Detection &b) { return a.score > b.score; });
  // Like Ultralytics, only the best 30000 candidates enter NMS.
  if (d.size() > 30000)
    d.resize(30000);
  std::vector<Detection> kept;
  std::vector<std::vector<size_t>> by_class;
  for (const Detection &x : d) {
    if (x.class_id < 0)
      continue;
    if (by_class.size() <= static_cast<size_t>(x.class_id))
      by_class.resize(x.class_id + 1);
    bool suppressed = false;
    for (size_t k : by_class[x.class_id])
      if (box_iou(kept[k], x) > iou) {
        suppressed = true;
        break;
      }
    if (suppressed)
      continue;
    by_class[x.class_id].push_back(kept.size());
    kept.push_back(x);
    if (static_cast<int>(kept.size()) >= max_det)
      break;
  }
  return kept;
}

} // namespace

std::vector<Detection> decode(const ModelInfo &m, const std::vector<float> &output,
                              const DecodeOptions &opt, const Letterbox &lb) {
  int64_t numel = std::accumulate(m.output_shape.begin(), m.output_shape.end(), int64_t{1},
                                  std::multiplies<>());
  if (static_cast<int64_t>(output.size()) != numel)
    throw Error(fmt::format("detection output has {} values; expected {}", output.size(),
                            shape_text(m.output_shape)));
  // End-to-end models ran NMS (or need none) inside the graph: an IoU bound of 1 keeps all.
  float iou = m.head == HeadKind::end2end ? 1.0f : opt.iou;
  std::vector<Detection> d = nms(candidates(m, output, opt.conf), iou, opt.max_det);
  auto map = [&](float v, int pad, int limit) {
    return std::clamp((v - pad) / lb.scale, 0.0f, static_cast<float>(limit));
  };
  for (Detection &x : d) {
    x.x1 = map(x.x1, lb.pad_x, lb.image_w);
    x.x2 = map(x.x2, lb.pad_x, lb.image_w);
    x.y1 = map(x.y1, lb.pad_y, lb.image_h);
    x.y2 = map(x.y2, lb.pad_y, lb.image_h);
  }
  return d;
}

} // namespace kiln
