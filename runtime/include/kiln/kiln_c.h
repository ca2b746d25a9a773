/* Kiln's C API: open a YOLO ONNX model (or a precompiled .kiln file), read its inputs and
 * outputs, run it on caller-owned buffers. C99/C11 and C++; no C++ types cross it, so ctypes,
 * Rust, Go and C# bind it directly. It wraps kiln::Session (kiln/kiln.h): the same lazy JIT,
 * cache folder and options.
 *
 *   kiln_options *opt = kiln_options_create();
 *   int64_t shape[4] = {1, 3, 416, 416};
 *   kiln_options_set_input_shape(opt, "images", shape, 4);
 *   kiln_session *s = NULL;
 *   if (kiln_session_open("yolox_nano.onnx", opt, &s) != KILN_OK)
 *     return fprintf(stderr, "%s\n", kiln_last_error()), 1;
 *   kiln_options_destroy(opt);                       // the session keeps a copy
 *   kiln_input in = {"images", KILN_F32, shape, 4, pixels, sizeof pixels};
 *   kiln_output out = {NULL, boxes, sizeof boxes};   // NULL name: output 0
 *   if (kiln_session_run(s, &in, 1, &out, 1) != KILN_OK)
 *     fprintf(stderr, "%s\n", kiln_last_error());
 *   kiln_session_close(s);
 *
 * Errors: every call that can fail returns a kiln_status; the one-line message of the calling
 * thread's most recent failure is kiln_last_error(). It is thread-local, so a binding whose
 * calls may move between OS threads (Go) reads it in the same C call or locks the thread
 * (runtime.LockOSThread). Nothing aborts and nothing is printed.
 *
 * Threads: a kiln_session is not safe for concurrent use (a run that finds it busy in another
 * thread fails with KILN_ERROR_RUN); sessions are independent of each other.
 *
 * Memory: the library owns what it returns (names, shapes, messages) and the caller owns every
 * buffer it passes. Pointers returned for a session stay valid until kiln_session_close, and
 * for an output's shape until the next run of that session.
 */
#ifndef KILN_KILN_C_H
#define KILN_KILN_C_H

#include <stddef.h>
#include <stdint.h>

#ifndef KILN_C_API
#define KILN_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every call that can fail. */
typedef enum kiln_status {
  KILN_OK = 0,
  KILN_ERROR_INVALID_ARGUMENT = 1, /**< null pointer, index out of range, unknown name, bad shape */
  KILN_ERROR_BUFFER_SIZE = 2,      /**< an input's or output's byte size does not fit */
  KILN_ERROR_OPEN = 3,             /**< the model or an option value: nothing was opened */
  KILN_ERROR_RUN = 4,              /**< compiling or running failed (the session stays usable) */
  KILN_ERROR_INTERNAL = 5          /**< a Kiln bug or out of memory */
} kiln_status;

/** Element types (the values of kiln::ElementType). */
typedef enum kiln_dtype {
  KILN_F32 = 0,
  KILN_F16 = 1,
  KILN_BF16 = 2,
  KILN_F64 = 3,
  KILN_I64 = 4,
  KILN_I32 = 5,
  KILN_I16 = 6,
  KILN_I8 = 7,
  KILN_U8 = 8,
  KILN_BOOL = 9
} kiln_dtype;

typedef struct kiln_options kiln_options; /**< options for opening a session */
typedef struct kiln_session kiln_session; /**< an open model */

/** A model input or output: what kiln_session_input/output describe. */
typedef struct kiln_tensor_info {
  const char *name;
  kiln_dtype dtype;
  size_t rank;
  const int64_t *shape; /**< rank dimensions */
} kiln_tensor_info;

/** One input of a run: the caller's row-major data of exactly size bytes. */
typedef struct kiln_input {
  const char *name; /**< NULL: the input at this position of the array */
  kiln_dtype dtype;
  const int64_t *shape;
  size_t rank;
  const void *data;
  size_t size; /**< bytes: the product of shape times kiln_dtype_size(dtype) */
} kiln_input;

/** Where a run writes one output: at least the output's byte size at data. */
typedef struct kiln_output {
  const char *name; /**< NULL: the output at this position of the array */
  void *data;
  size_t size; /**< bytes available at data */
} kiln_output;

/** "kiln 0.1.0 (LLVM 15.0.6)". */
KILN_C_API const char *kiln_version(void);
/** The calling thread's most recent failure message ("" when none). */
KILN_C_API const char *kiln_last_error(void);
/** "f32", "f16", ... "bool"; "?" for a value outside kiln_dtype. */
KILN_C_API const char *kiln_dtype_name(kiln_dtype dtype);
/** Bytes per element; 0 for a value outside kiln_dtype. */
KILN_C_API size_t kiln_dtype_size(kiln_dtype dtype);

/** Options with kiln::SessionOptions' defaults: target "cpu", all cores, f32, pipeline
 * "default", cache in $KILN_CACHE_DIR or ~/.cache/kiln. NULL when out of memory. */
KILN_C_API kiln_options *kiln_options_create(void);
KILN_C_API void kiln_options_destroy(kiln_options *options); /**< NULL is a no-op */
/** "cpu" or "opencl" (checked when a session opens, like the values below). */
KILN_C_API kiln_status kiln_options_set_target(kiln_options *options, const char *target);
/** Target "opencl": a device index or name substring; "" picks the first GPU. */
KILN_C_API kiln_status kiln_options_set_device(kiln_options *options, const char *device);
/** Worker threads per run, including the caller's; 0: every core. */
KILN_C_API kiln_status kiln_options_set_threads(kiln_options *options, int threads);
/** "f32", "f16" or "bf16". */
KILN_C_API kiln_status kiln_options_set_precision(kiln_options *options, const char *precision);
/** A pass pipeline: "O0".."O3", "default", pass names, "-name" ("O3,-fuse"). */
KILN_C_API kiln_status kiln_options_set_passes(kiln_options *options, const char *passes);
/** The cache folder; NULL or "": $KILN_CACHE_DIR, else ~/.cache/kiln. */
KILN_C_API kiln_status kiln_options_set_cache_dir(kiln_options *options, const char *dir);
/** 0: always compile, never read or write the cache folder. */
KILN_C_API kiln_status kiln_options_set_use_cache(kiln_options *options, int use_cache);
/** The shape to import input `name` with (needed for symbolic dimensions). */
KILN_C_API kiln_status kiln_options_set_input_shape(kiln_options *options, const char *name,
                                                    const int64_t *shape, size_t rank);

/** Opens MODEL.onnx (compiled lazily, on the first run) or a .kiln file (loaded now). options
 * NULL: the defaults. On success *session is the new session; on failure it is NULL. */
KILN_C_API kiln_status kiln_session_open(const char *path, const kiln_options *options,
                                         kiln_session **session);
/** Opens an ONNX model held in memory (size bytes at data, copied: the caller may free them).
 * A .kiln file in memory is refused (KILN_ERROR_OPEN): open it by path. */
KILN_C_API kiln_status kiln_session_open_bytes(const void *data, size_t size,
                                               const kiln_options *options, kiln_session **session);
KILN_C_API void kiln_session_close(kiln_session *session); /**< NULL is a no-op */

KILN_C_API size_t kiln_session_input_count(const kiln_session *session);
KILN_C_API size_t kiln_session_output_count(const kiln_session *session);
/** Input `index` with the shape the session was opened with. */
KILN_C_API kiln_status kiln_session_input(const kiln_session *session, size_t index,
                                          kiln_tensor_info *info);
/** Output `index` with the shape of the most recent run (before any run: the shape for the
 * opened input shapes). */
KILN_C_API kiln_status kiln_session_output(const kiln_session *session, size_t index,
                                           kiln_tensor_info *info);

/** Runs the model on n_inputs inputs (every model input, by name or position) and writes the
 * n_outputs requested outputs (by name or position; the others are dropped) into the caller's
 * buffers. An output whose buffer is smaller than its bytes fails with KILN_ERROR_BUFFER_SIZE
 * and leaves that buffer unwritten. Input shapes other than the opened ones compile (or load)
 * another schedule, as kiln::Session::run does; read the output shapes with
 * kiln_session_output afterwards. */
KILN_C_API kiln_status kiln_session_run(kiln_session *session, const kiln_input *inputs,
                                        size_t n_inputs, const kiln_output *outputs,
                                        size_t n_outputs);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_KILN_C_H */
