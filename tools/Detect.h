#pragma once
/// `kiln detect`: images in, annotated pictures and detections (text or JSON) out. The head
/// decoding is Decode.h's; the model's session comes from the shared flags (SessionFlags.h).
///
///   kiln detect yolox_nano.onnx bus.jpg frames/ -o detections --passes O3 --json
#include "tools/Decode.h"
#include "tools/SessionFlags.h"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kiln {

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
