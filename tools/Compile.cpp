// `kiln compile`: a model compiled ahead of time into a .kiln file (see Compile.h).
#include "tools/Compile.h"

#include "ir/Error.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>

namespace kiln {

CLI::App *add_compile_command(CLI::App &app, CompileArgs &a) {
  auto *compile = app.add_subcommand("compile", "compile a model ahead of time into a .kiln file");
  compile->add_option("model", a.model, "model.onnx")->required();
  compile->add_option("-o,--output", a.output, "the .kiln file to write")->required();
  add_session_flags(compile, a.session, {.target_help = "cpu, opencl", .threads = false});
  compile->add_flag("--json", a.json, "print one JSON object");
  return compile;
}

int cmd_compile(const CompileArgs &a) {
  const std::string &out_path = a.output;
  if (a.session.target != "cpu" && a.session.target != "opencl")
    throw Error("--target '" + a.session.target +
                "' cannot be compiled ahead of time (available: cpu, opencl)");
  Session s = open_session(a.model, session_options(a.session));
  throw_if_failed(s.save(out_path));
  SessionStats st = s.stats();
  print_pass_times(a.session, st);
  bool loaded = st.cache == "hit";
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"output", out_path},
                        {"target", st.target},
                        {"cache", st.cache},
                        {"llvm_codegen_runs", st.llvm_codegen_runs},
                        {"kernels", st.kernels},
                        {"weight_only_kernels", st.weight_only_kernels},
                        {"arena_bytes", st.arena_bytes},
                        {"weights_bytes", st.weights_bytes},
                        {"import_ms", st.import_ms}};
    j[loaded ? "load_ms" : "compile_ms"] = loaded ? st.load_ms : st.compile_ms;
    j.update(passes_json(a.session, st));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{} -> {}: {} kernels, arena {:.2f} MiB, weights {:.2f} MiB, {} {:.1f} ms "
             "(cache {})\n",
             a.model, out_path, st.kernels, st.arena_bytes / 1048576.0,
             st.weights_bytes / 1048576.0, loaded ? "load" : "compile",
             loaded ? st.load_ms : st.compile_ms, st.cache);
  return 0;
}

} // namespace kiln
