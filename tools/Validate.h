#pragma once
/// `kiln validate`: COCO-style mAP of a detector on a YOLO-format dataset (DIR/images/**,
/// DIR/labels/** with one "class cx cy w h" line per box, normalised), for Kiln and, side by
/// side, for the same pre-processing and decode on ONNX Runtime's outputs.
#include "tools/Detect.h"

#include <filesystem>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

struct ValidateArgs {
  std::string model;
  std::string dataset;
  float conf = 0.001f;   ///< detections kept for the precision-recall curves
  float iou = 0.7f;      ///< NMS threshold (Ultralytics' validation default)
  float pr_conf = 0.25f; ///< score threshold of the reported precision and recall
  int max_det = 300;
  SessionFlags session; ///< --target, --threads, --passes, --input-shape, --cache-dir, ...
  std::string head = "auto";
  std::string ort_python; ///< Python with onnxruntime ("" = find one)
  bool no_ort = false;
  bool json = false;
};

/// A ground-truth or detected box with its class, in original-image pixels.
struct ImageEval {
  std::vector<Detection> detections;
  std::vector<Detection> truth; ///< score unused
};

struct Metrics {
  double map50 = 0, map50_95 = 0;
  double precision = 0, recall = 0; ///< at score > pr_conf, IoU 0.5, over all classes
  int classes = 0;                  ///< classes with ground truth (the mAP's denominator)
  int64_t detections = 0, truth = 0;
};

/// COCO-style: greedy matching by score at IoU 0.50:0.05:0.95, 101-point interpolated AP per
/// class with ground truth, averaged over those classes.
Metrics evaluate(const std::vector<ImageEval> &images, float pr_conf);

// Shared with `kiln compare`, which reaches ONNX Runtime the same way.
/// Runs argv, stdout and stderr into `log`; returns the exit status (127: could not start).
int run_process(const std::vector<std::string> &argv, const std::string &log);
/// The last non-empty line of a file ("" when none).
std::string last_line(const std::string &file);
/// A Python that imports onnxruntime: `explicit_python`, else $KILN_PYTHON, the .venv next to
/// the build folder of this binary or in the working folder, python3. "" when none does.
/// Probe logs go to `tmp`.
std::string find_ort_python(const std::string &explicit_python, const std::filesystem::path &tmp);

CLI::App *add_validate_command(CLI::App &app, ValidateArgs &a);

int cmd_validate(const ValidateArgs &a);

} // namespace kiln
