#pragma once
/// `kiln detect`: YOLO pre-processing (letterbox), head recognition and decoding, class-wise NMS
/// and annotated pictures. The decode is shared with `kiln validate`, which runs it on Kiln's
/// and on ONNX Runtime's raw outputs alike.
#include "tools/Image.h"
#include "tools/SessionFlags.h"

#include <kiln/kiln.h>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

/// The output layouts Kiln can decode.
enum class HeadKind {
  v8,     ///< [1, 4+C(+32 masks), N]: cx, cy, w, h, class scores (YOLOv8/11, seg)
  v5,     ///< [1, 3*N, 5+C]: cx, cy, w, h, objectness, class scores (decoded in the graph)
  yolox,  ///< [1, N, 5+C] raw: (o+grid)*stride, exp(o)*stride, objectness, class scores
  end2end ///< [1, K, 6]: x1, y1, x2, y2, score, class (YOLOv10-style, NMS inside)
};
const char *head_name(HeadKind h);

/// What a model needs around it: how to feed it and how to read its detections.
struct ModelInfo {
  HeadKind head = HeadKind::v8;
  std::string input_name;
  ElementType input_type = ElementType::f32;
  int input_w = 0, input_h = 0;
  size_t output_index = 0; ///< the detection output among the model's outputs
  std::vector<int64_t> output_shape;
  int num_classes = 0;
  int num_masks = 0; ///< segmentation mask coefficients after the class scores (skipped)
  std::vector<std::string> names;
  /// YOLOX's convention: BGR 0..255, image at the top-left of the padded square. Otherwise
  /// Ultralytics': RGB / 255, image centred.
  bool yolox_preprocess = false;
  std::string names_source; ///< "metadata" or "COCO-80"
};

/// Key/value metadata_props of an ONNX file (empty for a .kiln file).
std::vector<std::pair<std::string, std::string>> read_onnx_metadata(const std::string &path);

/// Parses Ultralytics' names, a Python dict literal "{0: 'person', 1: 'bicycle', ...}".
std::vector<std::string> parse_names(const std::string &dict);
const std::vector<std::string> &coco80_names();

/// Recognises the head from the output shapes and metadata; `head` forces one ("auto": guess).
/// Throws kiln::Error naming the shapes when nothing fits.
ModelInfo recognise_model(const std::vector<TensorInfo> &inputs,
                          const std::vector<TensorInfo> &outputs,
                          const std::vector<std::pair<std::string, std::string>> &metadata,
                          const std::string &head = "auto");

/// How the original image sits in the model input: input = original * scale + pad.
struct Letterbox {
  float scale = 1;
  int pad_x = 0, pad_y = 0;
  int image_w = 0, image_h = 0;
};

/// Resizes and pads (value 114) `img` into the model's input tensor, in its layout and type.
HostTensor preprocess(const Image &img, const ModelInfo &m, Letterbox &lb);

struct Detection {
  int class_id = 0;
  float score = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

float box_iou(const Detection &a, const Detection &b);

struct DecodeOptions {
  float conf = 0.25f; ///< keep scores above this
  float iou = 0.45f;  ///< class-wise NMS: drop boxes overlapping a better one by more
  int max_det = 300;
};

/// Decodes the detection output (f32 values, the shape of m.output_shape), applies class-wise
/// NMS and maps the boxes back onto the original image (clipped to it). Sorted by score.
std::vector<Detection> decode(const ModelInfo &m, const std::vector<float> &output,
                              const DecodeOptions &opt, const Letterbox &lb);
/// The values of an f32 or f16 tensor as floats.
std::vector<float> to_floats(const HostTensor &t);

/// Draws the boxes with class-coloured frames and "name score" labels.
void annotate(Image &img, const std::vector<Detection> &dets,
              const std::vector<std::string> &names);

/// An input picture and the name its annotated copy gets in the output folder.
struct ImageSource {
  std::string path;
  std::string output_name;
};

/// Image files under the given files, folders (recursively, sorted) and frame lists (.txt, one
/// path per line, relative to the list's folder). Throws kiln::Error for a missing path.
std::vector<ImageSource> collect_images(const std::vector<std::string> &sources);

struct DetectArgs {
  std::string model;
  std::vector<std::string> sources;
  std::string output_dir = "detections";
  bool no_save = false;
  std::string format; ///< "jpg" or "png" for the pictures; "": as the input (PNG for others)
  float conf = 0.25f, iou = 0.45f;
  int max_det = 300;
  SessionFlags session; ///< --target, --threads, --passes, --input-shape, --cache-dir, ...
  bool json = false;
  std::string head = "auto";
  std::string save_input_dir; ///< hidden: the pre-processed tensors as .npy (for tests)
};

/// Opens and compiles the session of detect and validate (throws kiln::Error); prints the
/// pass times when --time-passes asks.
Session open_detect_session(const std::string &model, const SessionFlags &f);

/// Registers `detect` and its options on the command line.
CLI::App *add_detect_command(CLI::App &app, DetectArgs &a);
int cmd_detect(const DetectArgs &a);

} // namespace kiln
