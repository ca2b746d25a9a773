#pragma once
/// YOLO heads for detect and validate: head recognition, letterbox pre-processing, decoding and
/// class-wise NMS. Validate runs the same decode on Kiln's and on ONNX Runtime's raw outputs.
///
///   ModelInfo m = recognise_model(s.inputs(), s.outputs(), s.metadata());
///   Letterbox lb;
///   HostTensor x = preprocess(img, m, lb);
///   std::vector<Detection> d = decode(m, to_floats(out[m.output_index].tensor), {}, lb);
#include "tools/Image.h"

#include <kiln/kiln.h>
#include <string>
#include <utility>
#include <vector>

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

} // namespace kiln
