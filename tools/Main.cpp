// The kiln command line: builds the CLI11 app from each command's options and dispatches to
// the command that was parsed. The commands live in their own files (Run, Compile, Sweep,
// Detect, Validate, Inspect, Tune, Compare, Quantize, Cache); their shared flags in SessionFlags,
// inputs in Inputs.
#include "ir/Error.h"
#include "tools/Cache.h"
#include "tools/Compare.h"
#include "tools/Compile.h"
#include "tools/Console.h"
#include "tools/Detect.h"
#include "tools/Inspect.h"
#include "tools/Quantize.h"
#include "tools/Run.h"
#include "tools/Sweep.h"
#include "tools/Tune.h"
#include "tools/Validate.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <locale>

using namespace kiln;

int main(int argc, char **argv) {
  std::locale::global(std::locale("C"));
  CLI::App app{"kiln: a tensor compiler and runtime for YOLO graphs"};
  app.require_subcommand(1);

  GraphArgs graph_args;
  GraphCommands graph = add_graph_commands(app, graph_args);
  RunArgs run_args;
  CLI::App *run = add_run_command(app, run_args);
  CompileArgs compile_args;
  CLI::App *compile = add_compile_command(app, compile_args);
  SweepArgs sweep_args;
  CLI::App *sweep = add_sweep_command(app, sweep_args);
  DetectArgs detect_args;
  CLI::App *detect = add_detect_command(app, detect_args);
  ValidateArgs validate_args;
  CLI::App *validate = add_validate_command(app, validate_args);
  TuneArgs tune_args;
  CLI::App *tune = add_tune_command(app, tune_args);
  CompareArgs compare_args;
  CLI::App *compare = add_compare_command(app, compare_args);
  CacheArgs cache_args;
  CLI::App *cache = add_cache_command(app, cache_args);
  QuantizeArgs quantize_args;
  CLI::App *quantize = add_quantize_command(app, quantize_args);

  CLI11_PARSE(app, argc, argv);
  try {
    if (run->parsed())
      return cmd_run(run_args);
    if (compile->parsed())
      return cmd_compile(compile_args);
    if (sweep->parsed())
      return cmd_sweep(sweep_args);
    if (detect->parsed())
      return cmd_detect(detect_args);
    if (validate->parsed())
      return cmd_validate(validate_args);
    if (tune->parsed())
      return cmd_tune(tune_args);
    if (compare->parsed())
      return cmd_compare(compare_args);
    if (cache->parsed())
      return cmd_cache(cache_args);
    if (quantize->parsed())
      return cmd_quantize(quantize_args);
    return cmd_graph(graph, graph_args);
  } catch (const Error &e) {
    fmt::print(stderr, "kiln: error: {}\n", one_line(e.what()));
    return 1;
  } catch (const InternalError &e) {
    fmt::print(stderr, "kiln: error: {}\n", one_line(e.what()));
    return 2;
  } catch (const std::exception &e) {
    fmt::print(stderr, "kiln: error: internal: {}\n", one_line(e.what()));
    return 2;
  }
}
